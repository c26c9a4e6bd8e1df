package reset_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/reset"
	"github.com/eventfn/eventfn/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// world is one instance's data on the shared services, and a neighbour's
// Redis key that a reset must not touch.
type world struct {
	cfg       reset.Config
	neighbour string
}

func newWorld(t *testing.T) world {
	t.Helper()
	ctx := context.Background()
	rcfg, rdb := testenv.Redis(t)
	cfg := reset.Config{
		Postgres: config.Postgres{DatabaseURL: testenv.Database(t), DatabaseMaxConns: 2},
		Redis:    rcfg,
		NATS:     testenv.NATS(t, testenv.NATSURL()),
	}
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	b, err := bus.Connect(cfg.NATS, "test", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer b.Close()
	_, err = b.EnsureConsumer(ctx, bus.ConsumerOptions{AckWait: 30 * time.Second, MaxAckPending: 10})
	require.NoError(t, err)
	m := nats.NewMsg(b.EventsSubject("shop"))
	m.Data = []byte("{}")
	_, err = b.PublishAll(ctx, []*nats.Msg{m})
	require.NoError(t, err)

	// The prefix's own keys, the rate limiter's, and a neighbour's key
	// whose name starts like the prefix but is not under it.
	neighbour := strings.TrimSuffix(rcfg.RedisPrefix, ":") + "x:dd:1"
	for _, k := range []string{rcfg.RedisPrefix + "dd:abc", "rate:" + rcfg.RedisPrefix + "rl:e:shop", neighbour} {
		require.NoError(t, rdb.Set(ctx, k, 1, time.Hour).Err())
	}
	t.Cleanup(func() { rdb.Del(context.Background(), neighbour) })
	return world{cfg: cfg, neighbour: neighbour}
}

// state reports what of the world is left.
func (w world) state(t *testing.T) (tables int, streams []string, keys []string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.cfg.DatabaseURL)
	require.NoError(t, err, "the database exists")
	defer conn.Close(ctx)
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables))

	nc, err := nats.Connect(w.cfg.NATSURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	for _, name := range []string{w.cfg.Stream, w.cfg.DLQStream} {
		if _, err := js.Stream(ctx, name); err == nil {
			streams = append(streams, name)
		}
	}
	_, rdb := testenv.Redis(t)
	for _, pattern := range []string{w.cfg.RedisPrefix + "*", "rate:" + w.cfg.RedisPrefix + "*", w.neighbour} {
		found, err := rdb.Keys(ctx, pattern).Result()
		require.NoError(t, err)
		keys = append(keys, found...)
	}
	return tables, streams, keys
}

func run(w world, input string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := reset.Run(context.Background(), w.cfg, args, strings.NewReader(input), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestResetAsksThenDropsTheCurrentSettingsData: without a yes nothing is
// touched; with it the database is empty, the streams gone and the
// prefix's keys deleted, and nothing else.
func TestResetAsksThenDropsTheCurrentSettingsData(t *testing.T) {
	w := newWorld(t)
	for _, answer := range []string{"", "no\n", "\n"} {
		code, out, errOut := run(w, answer)
		assert.Equal(t, 1, code, "answer %q", answer)
		assert.Empty(t, out)
		assert.Contains(t, errOut, "make reset drops, for good:")
		assert.Contains(t, errOut, w.cfg.Stream)
		assert.Contains(t, errOut, w.cfg.RedisPrefix+"*")
		assert.Contains(t, errOut, "not confirmed: nothing dropped")
	}
	tables, streams, keys := w.state(t)
	assert.Equal(t, 1, tables)
	assert.Equal(t, []string{w.cfg.Stream, w.cfg.DLQStream}, streams)
	assert.Len(t, keys, 3)

	code, out, errOut := run(w, "yes\n")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "stream "+w.cfg.Stream+": deleted (1 messages)")
	assert.Contains(t, out, "redis: 2 keys deleted")
	tables, streams, keys = w.state(t)
	assert.Zero(t, tables, "the database is there again, empty")
	assert.Empty(t, streams)
	assert.Equal(t, []string{w.neighbour}, keys, "only the prefix's keys went")

	// Again, with -yes: nothing left to drop is no error.
	code, out, errOut = run(w, "", "-yes")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "stream "+w.cfg.Stream+": none")
	assert.NotContains(t, errOut, "Type yes")
}

// TestResetRefusesWhatIsNotLocal: settings naming another machine, or a
// database that is not eventfn's own, stop the reset before it connects.
func TestResetRefusesWhatIsNotLocal(t *testing.T) {
	base := reset.Config{
		Postgres: config.Postgres{DatabaseURL: "postgres://postgres@127.0.0.1:5432/eventfn"},
		Redis:    config.Redis{RedisURL: "redis://127.0.0.1:6379/0", RedisPrefix: "eventfn:"},
		NATS:     config.NATS{NATSURL: "nats://127.0.0.1:4222", Stream: "EVENTFN", DLQStream: "EVENTFN_DLQ"},
	}
	for _, tc := range []struct {
		name, want string
		mutate     func(*reset.Config)
	}{
		{"remote database", "DATABASE_URL names db.example.com", func(c *reset.Config) {
			c.DatabaseURL = "postgres://u@db.example.com:5432/eventfn"
		}},
		{"maintenance database", `the database "postgres"`, func(c *reset.Config) {
			c.DatabaseURL = "postgres://postgres@localhost/postgres"
		}},
		{"remote redis", "REDIS_URL names cache.internal:6379", func(c *reset.Config) { c.RedisURL = "redis://cache.internal:6379/0" }},
		{"one remote nats", "NATS_URL names nats-2:4222", func(c *reset.Config) { c.NATSURL = "nats://127.0.0.1:4222,nats://nats-2:4222" }},
	} {
		cfg := base
		tc.mutate(&cfg)
		var out, errOut bytes.Buffer
		code := reset.Run(context.Background(), cfg, []string{"-yes"}, strings.NewReader(""), &out, &errOut)
		assert.Equal(t, 2, code, tc.name)
		assert.Contains(t, errOut.String(), tc.want, tc.name)
		assert.Contains(t, errOut.String(), "Nothing was dropped", tc.name)
		assert.Empty(t, out.String(), tc.name)
	}
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, reset.Run(context.Background(), base, []string{"now"}, strings.NewReader(""), &out, &errOut))
	assert.Contains(t, errOut.String(), "usage: make reset")
}
