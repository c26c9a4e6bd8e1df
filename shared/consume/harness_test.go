package consume

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// harness is one test's database and streams, a publisher on them, and
// the means to start consumers (replicas) against them.
type harness struct {
	cfg  Config
	pool *pgxpool.Pool
	pub  *bus.Bus
	seq  atomic.Int64
}

// newHarness gives the test its own database and streams on the NATS
// server at natsURL, with a config fit for tests: small retry delay,
// MAX_DELIVER 3, the shortest ack wait.
func newHarness(tb testing.TB, natsURL string, mutate func(*Config)) *harness {
	tb.Helper()
	var cfg Config
	require.NoError(tb, config.Load(&cfg))
	cfg.Postgres = config.Postgres{DatabaseURL: testenv.Database(tb), DatabaseMaxConns: 3}
	cfg.NATS = testenv.NATS(tb, natsURL)
	cfg.Auth = config.Auth{}
	cfg.MaxDeliver = 3
	cfg.RetryDelay = 5 * time.Millisecond
	cfg.AckWait = time.Second
	cfg.MaxSeconds = 60
	if mutate != nil {
		mutate(&cfg)
	}
	require.NoError(tb, cfg.Validate())
	ctx := context.Background()
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: cfg.DatabaseURL, DatabaseMaxConns: 4})
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	require.NoError(tb, store.Migrate(ctx, pool))
	pub, err := bus.Connect(cfg.NATS, "test-publisher", slog.New(slog.DiscardHandler))
	require.NoError(tb, err)
	tb.Cleanup(pub.Close)
	require.NoError(tb, pub.EnsureStreams(ctx))
	return &harness{cfg: cfg, pool: pool, pub: pub}
}

// consumer starts a Consumer of its own (connections, pool, metrics), as a
// replica would; it is closed when the test ends.
func (h *harness) consumer(tb testing.TB) *Consumer {
	tb.Helper()
	c, err := NewConsumer(context.Background(), h.cfg, serve.Deps{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	require.NoError(tb, err)
	tb.Cleanup(c.Close)
	return c
}

// perMsg is how many events the harness's publish puts in one message at
// most, as ingest puts a request's events in one.
const perMsg = 20

// publish puts evs on the stream as ingest does, several events to a
// message: consecutive events of one project travel together, up to
// perMsg. Each message gets a message id of its own: the stream keeps
// re-sends of an identity, as it does once its duplicate window has passed.
func (h *harness) publish(tb testing.TB, evs ...*event.Event) {
	tb.Helper()
	var msgs []*nats.Msg
	for start := 0; start < len(evs); {
		end := start + 1
		for end < len(evs) && end-start < perMsg && evs[end].Project == evs[start].Project {
			end++
		}
		recs := make([]event.Record, 0, end-start)
		keys := make([]string, 0, end-start)
		for _, ev := range evs[start:end] {
			r, err := event.ToRecord(ev)
			require.NoError(tb, err)
			recs, keys = append(recs, r), append(keys, r.IdentityKey())
		}
		m := bus.RecordsMsg(h.pub.EventsSubject(evs[start].Project), recs, keys)
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%d", m.Header.Get(jetstream.MsgIDHeader), h.seq.Add(1)))
		msgs = append(msgs, m)
		start = end
	}
	h.publishMsgs(tb, msgs...)
}

// publishOneEach puts each event in a message of its own, in the one-event
// format of earlier versions (bus.EventMsg), which a stream may still hold
// after an upgrade.
func (h *harness) publishOneEach(tb testing.TB, evs ...*event.Event) {
	tb.Helper()
	msgs := make([]*nats.Msg, len(evs))
	for i, ev := range evs {
		m, err := bus.EventMsg(h.pub.EventsSubject(ev.Project), ev)
		require.NoError(tb, err)
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%d", ev.IdentityKey(), h.seq.Add(1)))
		msgs[i] = m
	}
	h.publishMsgs(tb, msgs...)
}

// publishMsgs puts raw messages on the stream, in chunks the publisher's
// pending-ack window takes.
func (h *harness) publishMsgs(tb testing.TB, msgs ...*nats.Msg) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(msgs) > 0 {
		n := min(len(msgs), 10000)
		_, err := h.pub.PublishAll(ctx, msgs[:n])
		require.NoError(tb, err)
		msgs = msgs[n:]
	}
}

// rawMsg is a message on the events subject of project with the given
// body and headers, as a faulty publisher could write it.
func (h *harness) rawMsg(project, body string, header map[string]string) *nats.Msg {
	m := nats.NewMsg(h.pub.EventsSubject(project))
	m.Data = []byte(body)
	for k, v := range header {
		m.Header.Set(k, v)
	}
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("raw-%d", h.seq.Add(1)))
	return m
}

// drainAll drains with c until nothing is pending, adding up the answers.
func (h *harness) drainAll(tb testing.TB, c *Consumer) Result {
	tb.Helper()
	var total Result
	testenv.Eventually(tb, 60*time.Second, func() bool {
		r, err := c.Drain(context.Background())
		require.NoError(tb, err)
		total.add(r)
		total.Pending = r.Pending
		return r.Pending == 0
	}, "consumer still has messages pending")
	return total
}

func (h *harness) count(tb testing.TB, query string, args ...any) int {
	tb.Helper()
	var n int
	require.NoError(tb, h.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// newEvent returns an event of project with the given id, type, subject
// and time, and JSON properties.
func newEvent(project, id, typ, subject string, at time.Time) *event.Event {
	ce := cloudevents.New()
	ce.SetID(id)
	ce.SetSource("/test")
	ce.SetType(typ)
	if subject != "" {
		ce.SetSubject(subject)
	}
	ce.SetTime(at)
	props, _ := json.Marshal(map[string]any{"plan": "pro", "n": len(id)})
	_ = ce.SetData(cloudevents.ApplicationJSON, props)
	return &event.Event{Project: project, CE: ce, ReceivedAt: at.Add(time.Second)}
}

// resent returns a copy of ev as its sender would re-send it, at another time.
func resent(ev *event.Event, at time.Time) *event.Event {
	cp := &event.Event{Project: ev.Project, CE: ev.CE.Clone(), ReceivedAt: time.Now()}
	cp.CE.SetTime(at)
	return cp
}

// dbSnapshot fingerprints every table of the test database (schema public,
// partitions through their parent, schema_migrations aside): its row count
// and an md5 of its rows in sorted order. Two equal snapshots mean no row
// of any table, events, identities or rollups, changed in between.
func dbSnapshot(tb testing.TB, pool *pgxpool.Pool) map[string]string {
	tb.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
		SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND c.relname <> 'schema_migrations'`)
	require.NoError(tb, err)
	var tables []string
	for rows.Next() {
		var name string
		require.NoError(tb, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(tb, rows.Err())
	sort.Strings(tables)
	snap := map[string]string{}
	for _, table := range tables {
		var n int
		var sum string
		require.NoError(tb, pool.QueryRow(ctx, fmt.Sprintf(
			`SELECT count(*), coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '') FROM %q r`, table)).Scan(&n, &sum))
		snap[table] = fmt.Sprintf("%d rows, md5 %s", n, sum)
	}
	require.Contains(tb, snap, "events")
	require.Contains(tb, snap, "event_ids")
	return snap
}

// tableNames lists the snapshot's tables, for messages.
func tableNames(snap map[string]string) string {
	names := make([]string, 0, len(snap))
	for k := range snap {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
