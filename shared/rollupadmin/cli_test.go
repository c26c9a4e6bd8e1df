package rollupadmin_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
	"github.com/eventfn/eventfn/shared/rollupadmin"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// zones are the zones the tests give calendar rollups.
var zones = []string{"Europe/Kyiv", "UTC"}

// state fingerprints the calendar rollups of every zone.
func state(t *testing.T, pool *pgxpool.Pool) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	for _, tz := range zones {
		out[tz] = rolluptest.Calendar(t, pool, tz)
	}
	return out
}

// events returns n events of 2 projects, 60 users and 4 types over 40 days
// across a DST change, ids starting at first.
func events(seed uint64, first, n int) []*event.Event {
	r := rand.New(rand.NewPCG(seed, 3))
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	evs := make([]*event.Event, n)
	for i := range evs {
		ce := cloudevents.New()
		ce.SetID(fmt.Sprintf("e%d", first+i))
		ce.SetSource("/app")
		ce.SetType(fmt.Sprintf("t%d", r.IntN(4)))
		ce.SetSubject(fmt.Sprintf("u%d", r.IntN(60)))
		ce.SetTime(start.Add(time.Duration(r.Int64N(int64(40 * 24 * time.Hour)))).Truncate(time.Second))
		evs[i] = &event.Event{Project: []string{"shop", "blog"}[r.IntN(2)], CE: ce, ReceivedAt: time.Now()}
	}
	return evs
}

func run(t *testing.T, cfg config.Postgres, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = rollupadmin.Run(context.Background(), cfg, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func setup(t *testing.T) (config.Postgres, *pgxpool.Pool, *store.Store) {
	t.Helper()
	ctx := context.Background()
	cfg := config.Postgres{DatabaseURL: testenv.Database(t), DatabaseMaxConns: 4}
	pool, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, store.Migrate(ctx, pool))
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, zones))
	return cfg, pool, store.New(pool)
}

// TestRebuildRepairsDamagedRollups damages the calendar rollups of both
// zones as a bug would (a count off, rows missing), then rebuilds: each
// table must be back to what it held before the damage.
func TestRebuildRepairsDamagedRollups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, pool, s := setup(t)
	_, err := s.InsertEvents(ctx, events(1, 0, 3000))
	require.NoError(t, err)
	rolluptest.Materialize(t, pool)

	code, out, _ := run(t, cfg, "zones")
	require.Equal(t, 0, code)
	assert.Equal(t, "Europe/Kyiv\nUTC\n", out)

	before := state(t, pool)
	for _, d := range []struct{ tz, table, sql string }{
		{"Europe/Kyiv", "rollup_type_days", `UPDATE rollup_type_days SET events = events + 7 WHERE tz = 'Europe/Kyiv' AND day = (SELECT min(day) FROM rollup_type_days)`},
		{"UTC", "rollup_user_days", `DELETE FROM rollup_user_days WHERE tz = 'UTC' AND uid % 3 = 0`},
		{"UTC", "rollup_retention", `DELETE FROM rollup_retention WHERE tz = 'UTC'`},
		{"Europe/Kyiv", "rollup_active", `UPDATE rollup_active SET users = users + 1 WHERE tz = 'Europe/Kyiv'`},
		{"UTC", "rollup_type_prevs", `UPDATE rollup_type_prevs SET pairs = '\x00' WHERE tz = 'UTC'`},
	} {
		_, err := pool.Exec(ctx, d.sql)
		require.NoError(t, err, d.sql)
		require.NotEqual(t, before[d.tz][d.table], rolluptest.Calendar(t, pool, d.tz)[d.table], "the damage must reach %s in %s", d.table, d.tz)
	}

	code, out, errOut := run(t, cfg, "rebuild")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "rebuilt Europe/Kyiv\nrebuilt UTC\n2 zone(s) in ")
	assert.Equal(t, before, state(t, pool))
}

// TestRebuildWhileConsumersWrite rebuilds one zone again and again while
// batches are stored and materialized: nothing committed meanwhile may be
// lost or counted twice, so the rollups must end equal to a rebuild after
// the writes.
func TestRebuildWhileConsumersWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, pool, s := setup(t)
	_, err := s.InsertEvents(ctx, events(2, 0, 2000))
	require.NoError(t, err)
	rolluptest.Materialize(t, pool)

	var wg sync.WaitGroup
	more := events(3, 2000, 4000)
	m := rollup.NewMaterializer(pool, 0)
	wg.Go(func() {
		for off := 0; off < len(more); off += 200 {
			_, err := s.InsertEvents(ctx, more[off:off+200])
			assert.NoError(t, err)
			_, err = m.Step(ctx)
			assert.NoError(t, err)
		}
	})
	for range 5 {
		code, _, errOut := run(t, cfg, "rebuild", "UTC")
		require.Equal(t, 0, code, errOut)
	}
	wg.Wait()
	rolluptest.Materialize(t, pool)

	written := state(t, pool)
	code, _, errOut := run(t, cfg, "rebuild")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, state(t, pool), written)
}

func TestRebuildUsageErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, pool, s := setup(t)
	_, err := s.InsertEvents(ctx, events(4, 0, 500))
	require.NoError(t, err)
	rolluptest.Materialize(t, pool)
	_, err = pool.Exec(ctx, `DELETE FROM rollup_retention WHERE tz = 'UTC'`)
	require.NoError(t, err)
	damaged := state(t, pool)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: scripts/rollups"},
		{[]string{"rebuild", "UTC", "Asia/Tokyo"}, `zone "Asia/Tokyo" has no calendar rollups (list it in ROLLUP_TIMEZONES to add it)`},
		{[]string{"zones", "UTC"}, "zones takes no arguments"},
		{[]string{"drop"}, `unknown command "drop"`},
	} {
		code, out, errOut := run(t, cfg, tc.args...)
		assert.Equal(t, 2, code, "%v", tc.args)
		assert.Empty(t, out, "%v", tc.args)
		assert.Contains(t, errOut, tc.want, "%v", tc.args)
	}
	// A refused zone list rebuilds none of the zones it names.
	assert.Equal(t, damaged, state(t, pool))

	code, _, errOut := run(t, config.Postgres{DatabaseURL: "postgres://postgres@127.0.0.1:1/none?connect_timeout=2", DatabaseMaxConns: 1}, "zones")
	assert.Equal(t, 1, code)
	assert.True(t, strings.HasPrefix(errOut, "rollups: "), errOut)

	code, _, errOut = run(t, config.Postgres{DatabaseURL: testenv.Database(t), DatabaseMaxConns: 1}, "zones")
	assert.Equal(t, 1, code)
	assert.Equal(t, "rollups: the database DATABASE_URL names holds no eventfn schema: no function has run against it\n", errOut)
}

// TestMainReadsTheEnvironment checks the settings come from the functions'
// variables, and a bad one stops the tool naming it.
func TestMainReadsTheEnvironment(t *testing.T) {
	t.Setenv("DATABASE_URL", testenv.Database(t))
	t.Setenv("DATABASE_MAX_CONNS", "0")
	var out, errOut bytes.Buffer
	assert.Equal(t, 1, rollupadmin.Main(context.Background(), []string{"zones"}, &out, &errOut))
	assert.Equal(t, "rollups: config: DATABASE_MAX_CONNS must be at least 1\n", errOut.String())

	t.Setenv("DATABASE_MAX_CONNS", "2")
	errOut.Reset()
	assert.Equal(t, 0, rollupadmin.Main(context.Background(), []string{"rebuild"}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "rebuilt UTC\n1 zone(s) in ")
}
