package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfn/eventfn/shared/benchdata"
	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// benchPerMsg is the events of one stream message in the benchmarks: the
// events of one ingest request of that many.
const benchPerMsg = 500

// BenchmarkConsume measures what consume-batch does with a backlog, at the
// settings make run and the deploy files use (Config's defaults), beside
// a raw COPY of the same rows into the events table in the same run (the
// baseline every %copy refers to; gincopy is the same into events with the
// GIN index on props it had when the throughput issue set its targets,
// before migration 0021):
//   - consume: committed events/s, the stream drained into events and
//     event_ids (and the rollup feed), by 1 and 2 replicas;
//   - rollups: events/s moved from the feed into the rollups by 1 and 2
//     materializers, after that;
//   - both: 1 and 2 replicas draining and materializing at once, as they
//     run deployed, until the stream and the feed are empty.
//
// The stream holds messages of benchPerMsg events, as ingest writes a
// request of that many. Two workloads of EVENTFN_BENCH_EVENTS (default
// 100,000): steady, one day of sessions in time order (active users send
// many events of a few types), and scattered, 10 days, 100k users, 50 types,
// where nearly every event is a user's first of its type that day (the
// rollups' worst case).
//
// Every measurement starts from empty tables, unless
// EVENTFN_BENCH_DATABASE_URL names a database that holds data already
// (the stats bench's 10M events, say): then each pass adds fresh events
// on top, and nothing is removed.
func BenchmarkConsume(b *testing.B) {
	n := benchdata.EnvInt("EVENTFN_BENCH_EVENTS", 100000)
	b.Run("workload=steady", func(b *testing.B) { benchConsume(b, "steady", n) })
	b.Run("workload=scattered", func(b *testing.B) { benchConsume(b, "scattered", n) })
}

// benchBase is the last day of the workloads: recent, so that the events
// pass ingest's rules.
func benchBase() time.Time {
	return time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
}

// benchWorkload returns n events of the named workload, with ids made
// unique by prefix.
func benchWorkload(name, prefix string, n int) []event.Record {
	r := rand.New(rand.NewPCG(11, 13))
	base := benchBase()
	plans := []string{"free", "pro", "team"}
	recs := make([]event.Record, n)
	for i := range recs {
		var at time.Time
		var user, typ int
		switch name {
		case "steady":
			// Sessions: about 5,000 users active in the day, each sending
			// some 20 events of 8 types, a few types far more often.
			at = base.Add(time.Duration(i) * 24 * time.Hour / time.Duration(n))
			user = (i/20*7919 + r.IntN(3)) % 5000
			typ = int(8 * r.Float64() * r.Float64())
		default:
			// Scattered: 100k users, 50 types, 10 days, each event most
			// likely its user's first of its type that day.
			at = base.AddDate(0, 0, -r.IntN(10)).Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
			user = r.IntN(100000)
			typ = r.IntN(50)
		}
		at = at.Truncate(time.Microsecond)
		recs[i] = event.Record{
			Project: "bench", Source: "/bench", ID: fmt.Sprintf("%s-%d", prefix, i), Type: fmt.Sprintf("type_%02d", typ),
			Subject: fmt.Sprintf("user-%d", user), DataContentType: "application/json", Time: at, ReceivedAt: at,
			Props: fmt.Appendf(nil, `{"path":"/products/%d","referrer":"https://example.com/","plan":%q,"country":"c%d","n":%d}`,
				r.IntN(1000), plans[user%3], user%20, r.IntN(10)),
			Extensions: []byte("{}"),
		}
	}
	return recs
}

// benchMsgs lays recs out as ingest publishes them.
func benchMsgs(subject string, recs []event.Record) []*nats.Msg {
	var msgs []*nats.Msg
	for off := 0; off < len(recs); off += benchPerMsg {
		part := recs[off:min(off+benchPerMsg, len(recs))]
		keys := make([]string, len(part))
		for i := range part {
			keys[i] = part[i].IdentityKey()
		}
		msgs = append(msgs, bus.RecordsMsg(subject, part, keys))
	}
	return msgs
}

func benchConsume(b *testing.B, workload string, n int) {
	ctx := context.Background()
	preloaded := os.Getenv("EVENTFN_BENCH_DATABASE_URL")
	h := newHarness(b, testenv.NATSURL(), func(c *Config) {
		// The defaults, but for the harness's test settings.
		var d Config
		if err := config.Load(&d); err != nil {
			b.Fatal(err)
		}
		c.BatchSize, c.MaxAckPending, c.RollupChunk, c.AckWait = d.BatchSize, d.MaxAckPending, d.RollupChunk, d.AckWait
		c.MaxEvents, c.MaxSeconds = math.MaxInt32, 3600
		if preloaded != "" {
			c.DatabaseURL = preloaded
		}
	})
	b.Logf("consume settings: CONSUME_BATCH_SIZE=%d ROLLUP_CHUNK_EVENTS=%d DATABASE_MAX_CONNS=%d, %d events a message",
		h.cfg.BatchSize, h.cfg.RollupChunk, h.cfg.DatabaseMaxConns, benchPerMsg)
	pass := 0
	// fresh returns the workload with ids of their own, and empties the
	// tables first unless the database is preloaded.
	fresh := func(b *testing.B) []event.Record {
		pass++
		if preloaded == "" {
			truncateAll(b, h.pool)
		}
		recs := benchWorkload(workload, fmt.Sprintf("p%d-%d", pass, time.Now().UnixNano()), n)
		days := map[time.Time]bool{}
		for _, r := range recs {
			days[r.Time.Truncate(24*time.Hour)] = true
		}
		parts := store.New(h.pool)
		for day := range days {
			if err := parts.EnsurePartition(ctx, day); err != nil {
				b.Fatal(err)
			}
		}
		return recs
	}
	// publish puts recs on a stream of the pass's own, as ingest does.
	publish := func(b *testing.B, recs []event.Record) Config {
		cfg := h.cfg
		cfg.NATS = testenv.NATS(b, testenv.NATSURL())
		pub, err := bus.Connect(cfg.NATS, "bench-publisher", slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		defer pub.Close()
		msgs := benchMsgs(pub.EventsSubject("bench"), recs)
		for len(msgs) > 0 {
			k := min(len(msgs), 100)
			if _, err := pub.PublishAll(ctx, msgs[:k]); err != nil {
				b.Fatal(err)
			}
			msgs = msgs[k:]
		}
		return cfg
	}

	// copyPass COPYs fresh events into events, 5000 a transaction.
	copyPass := func(b *testing.B) func() error {
		recs := fresh(b)
		return func() error {
			for off := 0; off < len(recs); off += 5000 {
				if err := copyEvents(ctx, h.pool, recs[off:min(off+5000, len(recs))]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	var copyRate float64
	b.Run("copy", func(b *testing.B) {
		copyRate = timed(b, n, copyPass)
	})
	b.Run("gincopy", func(b *testing.B) {
		if preloaded != "" {
			b.Skip("the baseline with the GIN index is measured on empty tables only")
		}
		if _, err := h.pool.Exec(ctx, benchdata.PropsIndex("bench_events_props")); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if _, err := h.pool.Exec(ctx, "DROP INDEX bench_events_props"); err != nil {
				b.Fatal(err)
			}
		})
		timed(b, n, copyPass)
	})
	report := func(b *testing.B, rate float64) {
		if copyRate > 0 {
			b.ReportMetric(100*rate/copyRate, "%copy")
		}
	}

	for _, replicas := range []int{1, 2} {
		b.Run(fmt.Sprintf("consume/replicas=%d", replicas), func(b *testing.B) {
			report(b, timed(b, n, func(b *testing.B) func() error {
				cfg := publish(b, fresh(b))
				cs := benchReplicas(b, cfg, replicas)
				return func() error { return drainAll(cs, n) }
			}))
		})
	}
	for _, replicas := range []int{1, 2} {
		b.Run(fmt.Sprintf("rollups/replicas=%d", replicas), func(b *testing.B) {
			report(b, timed(b, n, func(b *testing.B) func() error {
				cfg := publish(b, fresh(b))
				cs := benchReplicas(b, cfg, replicas)
				if err := drainAll(cs, n); err != nil {
					b.Fatal(err)
				}
				return func() error { return materializeAll(cs, n) }
			}))
		})
	}
	for _, replicas := range []int{1, 2} {
		b.Run(fmt.Sprintf("both/replicas=%d", replicas), func(b *testing.B) {
			report(b, timed(b, n, func(b *testing.B) func() error {
				cfg := publish(b, fresh(b))
				cs := benchReplicas(b, cfg, replicas)
				return func() error {
					errs := make(chan error, 2)
					go func() { errs <- drainAll(cs, n) }()
					go func() { errs <- materializeAll(cs, n) }()
					return errors.Join(<-errs, <-errs)
				}
			}))
		})
	}
}

// timed runs b.N passes: prepare sets one up (untimed) and returns the
// work to time. It reports and returns events/s over the timed work.
func timed(b *testing.B, n int, prepare func(*testing.B) func() error) float64 {
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		work := prepare(b)
		b.StartTimer()
		start := time.Now()
		if err := work(); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
	}
	rate := float64(n*b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "events/s")
	return rate
}

// benchReplicas returns k consumers (replicas, each with its own
// connections) on cfg's durable consumer.
func benchReplicas(b *testing.B, cfg Config, k int) []*Consumer {
	cs := make([]*Consumer, k)
	for i := range cs {
		c, err := NewConsumer(context.Background(), cfg, serve.Deps{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.prepare(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		cs[i] = c
	}
	return cs
}

// drainAll drains with every consumer at once until n events are stored.
func drainAll(cs []*Consumer, n int) error {
	return untilDone(cs, n, func(c *Consumer) (int, error) {
		r, err := c.Drain(context.Background())
		return r.Inserted + r.Duplicates, err
	})
}

// materializeAll runs every consumer's materializer at once until n
// events moved into the rollups.
func materializeAll(cs []*Consumer, n int) error {
	return untilDone(cs, n, func(c *Consumer) (int, error) { return c.Materialize(context.Background()) })
}

// untilDone calls step with every consumer at once, adding up what the
// steps did, until that reaches n or a step fails.
func untilDone(cs []*Consumer, n int, step func(*Consumer) (int, error)) error {
	var mu sync.Mutex
	done := 0
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			for {
				mu.Lock()
				finished := done >= n
				mu.Unlock()
				if finished {
					return
				}
				k, err := step(c)
				if err != nil {
					errs[i] = err
					return
				}
				mu.Lock()
				done += k
				mu.Unlock()
				if k == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// eventColumns are the events columns the COPY baseline writes, as the
// store does.
var eventColumns = []string{
	"project", "source", "id", "type", "subject", "time", "received_at",
	"datacontenttype", "dataschema", "props", "data", "extensions",
}

// copyEvents is the baseline: recs COPYed into events in one transaction.
func copyEvents(ctx context.Context, pool *pgxpool.Pool, recs []event.Record) error {
	rows := make([][]any, len(recs))
	for i, r := range recs {
		rows[i] = []any{r.Project, r.Source, r.ID, r.Type, r.Subject, r.Time, r.ReceivedAt,
			r.DataContentType, nil, string(r.Props), nil, string(r.Extensions)}
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, pgx.CopyFromRows(rows))
		return err
	})
}

// truncateAll empties every table but schema_migrations and rollup_version
// (a count that only grows), partitions kept.
func truncateAll(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
		SELECT quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND c.relname NOT IN ('schema_migrations', 'rollup_version')`)
	if err != nil {
		tb.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "TRUNCATE "+strings.Join(tables, ", ")); err != nil {
		tb.Fatal(err)
	}
}
