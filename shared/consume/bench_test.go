package consume

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// benchEvents is the events each measurement stores:
// EVENTFN_BENCH_EVENTS, default 100,000.
func benchEvents(b *testing.B) int {
	n := 100000
	if v := os.Getenv("EVENTFN_BENCH_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("EVENTFN_BENCH_EVENTS=%q is not a positive number", v)
		}
	}
	return n
}

// BenchmarkConsume measures committed events per second from the stream
// into PostgreSQL, for batch sizes 500, 1000 and 5000 with 1 and 2
// consumers, beside ceilings measured in the same run on the same rows:
// a raw COPY into the events table (the baseline every %copy refers to),
// a raw COPY into event_ids and events, store.InsertEvents without the
// broker, and the broker without the database (fetch, decode, ack). Every measurement starts from empty tables (partitions made
// beforehand) and, for consume, a fresh durable consumer on one stream
// holding the events. The machine's PostgreSQL and NATS share its cores
// with the benchmark.
//
// Two workloads: scattered, where nearly every event is a user's first of
// its type that day (the rollups' worst case), and steady, a week of
// traffic in time order where active users send many events a day.
func BenchmarkConsume(b *testing.B) {
	n := benchEvents(b)
	scattered, _ := workload(n)
	b.Run("workload=scattered", func(b *testing.B) { benchConsume(b, scattered) })
	b.Run("workload=steady", func(b *testing.B) { benchConsume(b, steadyWorkload(n)) })
}

// steadyWorkload returns n events of three projects over the 7 days before
// the workload's base time, in time order, as steady traffic arrives:
// each day about 300 users per project are active (out of 5000, changing
// from day to day), sending about 16 events each of 8 types, a few types
// far more often than the others.
func steadyWorkload(n int) []*event.Event {
	r := rand.New(rand.NewPCG(11, 13))
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	if now := time.Now().UTC(); base.After(now) {
		base = now.Truncate(24 * time.Hour)
	}
	start := base.AddDate(0, 0, -7)
	step := 7 * 24 * time.Hour / time.Duration(n)
	evs := make([]*event.Event, n)
	for i := range evs {
		at := start.Add(time.Duration(i) * step).Truncate(time.Millisecond)
		day := i * 7 / n
		user := (day*997 + r.IntN(300)) % 5000
		typ := int(8 * r.Float64() * r.Float64())
		evs[i] = newEvent(fmt.Sprintf("p%d", i%3), fmt.Sprintf("s-%d", i), fmt.Sprintf("type_%d", typ),
			fmt.Sprintf("user-%d", user), at)
		evs[i].ReceivedAt = at
	}
	return evs
}

func benchConsume(b *testing.B, unique []*event.Event) {
	ctx := context.Background()
	n := len(unique)
	h := newHarness(b, testenv.NATSURL(), func(c *Config) {
		c.MaxEvents, c.MaxSeconds = n, 600
		c.AckWait = 30 * time.Second
		c.Postgres.DatabaseMaxConns = 2
	})
	h.publish(b, unique...)
	days := map[time.Time]bool{}
	for _, ev := range unique {
		days[ev.CE.Time().UTC().Truncate(24*time.Hour)] = true
	}
	parts := store.New(h.pool)
	for day := range days {
		if err := parts.EnsurePartition(ctx, day); err != nil {
			b.Fatal(err)
		}
	}
	rows := copyRows(unique)

	// The ceilings: raw COPY of the rows into events alone (the headline
	// baseline), into events and event_ids, and store.InsertEvents called
	// directly (identity, events and rollups, no broker), all in
	// transactions of 5000 rows on one connection.
	copyEvents := func(tx pgx.Tx, off, end int) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, pgx.CopyFromRows(rows[off:end]))
		return err
	}
	copyIDs := func(tx pgx.Tx, off, end int) error {
		ids := make([][]any, 0, end-off)
		for _, r := range rows[off:end] {
			ids = append(ids, []any{r[0], r[1], r[2], r[5]})
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"event_ids"}, []string{"project", "source", "id", "time"}, pgx.CopyFromRows(ids))
		return err
	}
	var copyRate float64
	b.Run("copy", func(b *testing.B) {
		copyRate = baseline(b, h.pool, n, func(off, end int) error {
			return pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error { return copyEvents(tx, off, end) })
		})
	})
	b.Run("copy_with_ids", func(b *testing.B) {
		rate := baseline(b, h.pool, n, func(off, end int) error {
			return pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error {
				if err := copyIDs(tx, off, end); err != nil {
					return err
				}
				return copyEvents(tx, off, end)
			})
		})
		b.ReportMetric(100*rate/copyRate, "%copy")
	})
	b.Run("insert_events", func(b *testing.B) {
		var s *store.Store
		rate := baseline(b, h.pool, n, func(off, end int) error {
			if off == 0 {
				// A store of its own per pass: what it remembers belongs
				// to the tables it wrote, which each pass empties.
				s = store.New(h.pool)
			}
			_, err := s.InsertEvents(ctx, unique[off:end])
			return err
		})
		b.ReportMetric(100*rate/copyRate, "%copy")
	})

	// The broker's share alone, the other ceiling: the consumers fetch,
	// decode and acknowledge every message in batches of 5000, and write
	// nothing.
	for _, consumers := range []int{1, 2} {
		b.Run(fmt.Sprintf("broker_only/consumers=%d", consumers), func(b *testing.B) {
			for i := range b.N {
				b.StopTimer()
				cfg, cs := benchConsumers(b, h, fmt.Sprintf("broker_c%d_%d", consumers, i), 5000, consumers)
				var taken atomic.Int64
				errs := make([]error, consumers)
				var wg sync.WaitGroup
				b.StartTimer()
				for j, c := range cs {
					wg.Go(func() { errs[j] = brokerOnly(c, int64(n), &taken) })
				}
				wg.Wait()
				b.StopTimer()
				for j, c := range cs {
					if errs[j] != nil {
						b.Fatal(errs[j])
					}
					c.Close()
				}
				if got := taken.Load(); got != int64(n) {
					b.Fatalf("took %d of %d", got, n)
				}
				_ = h.pub.JetStream().DeleteConsumer(ctx, cfg.Stream, cfg.Consumer)
			}
			rate := float64(n*b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(100*rate/copyRate, "%copy")
		})
	}

	for _, batch := range []int{500, 1000, 5000} {
		for _, consumers := range []int{1, 2} {
			b.Run(fmt.Sprintf("batch=%d/consumers=%d", batch, consumers), func(b *testing.B) {
				for i := range b.N {
					b.StopTimer()
					truncateAll(b, h.pool)
					cfg, cs := benchConsumers(b, h, fmt.Sprintf("b%d_c%d_%d", batch, consumers, i), batch, consumers)
					results := make([]Result, consumers)
					errs := make([]error, consumers)
					var rs retries
					var wg sync.WaitGroup
					b.StartTimer()
					for j, c := range cs {
						wg.Go(func() { results[j], errs[j] = drainUntilEmpty(c, 10*time.Minute, &rs) })
					}
					wg.Wait()
					b.StopTimer()
					inserted := 0
					for j, c := range cs {
						if errs[j] != nil {
							b.Fatal(errs[j])
						}
						inserted += results[j].Inserted
						c.Close()
					}
					if inserted != n {
						b.Fatalf("inserted %d of %d", inserted, n)
					}
					_ = h.pub.JetStream().DeleteConsumer(ctx, cfg.Stream, cfg.Consumer)
				}
				rate := float64(n*b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "events/s")
				if copyRate > 0 {
					b.ReportMetric(100*rate/copyRate, "%copy")
				}
			})
		}
	}
}

// benchConsumers returns k consumers sharing a durable consumer of its own
// (named with name), taking batches of batch, and their config.
func benchConsumers(b *testing.B, h *harness, name string, batch, k int) (Config, []*Consumer) {
	cfg := h.cfg
	cfg.BatchSize = batch
	cfg.Consumer = h.cfg.Consumer + "_" + name
	cs := make([]*Consumer, k)
	for j := range cs {
		c, err := NewConsumer(context.Background(), cfg, serve.Deps{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
		if err != nil {
			b.Fatal(err)
		}
		cs[j] = c
	}
	return cfg, cs
}

// brokerOnly does c's broker work for messages until taken reaches n:
// fetch, decode (as for storing) and acknowledge, with no database write.
func brokerOnly(c *Consumer, n int64, taken *atomic.Int64) error {
	ctx := context.Background()
	cons, err := c.prepare(ctx)
	if err != nil {
		return err
	}
	for taken.Load() < n {
		msgs, err := bus.Fetch(ctx, cons, c.cfg.BatchSize, 100*time.Millisecond)
		if err != nil {
			return err
		}
		bt := c.decode(msgs)
		bt.release()
		for _, err := range bt.poison {
			if err != nil {
				return err
			}
		}
		if len(msgs) > 0 {
			if err := c.ack(ctx, msgs); err != nil {
				return err
			}
		}
		taken.Add(int64(len(msgs)))
	}
	return nil
}

// baseline times write over the n rows in chunks of 5000, from empty
// tables, and reports and returns events/s.
func baseline(b *testing.B, pool *pgxpool.Pool, n int, write func(off, end int) error) float64 {
	for range b.N {
		b.StopTimer()
		truncateAll(b, pool)
		b.StartTimer()
		for off := 0; off < n; off += 5000 {
			if err := write(off, min(off+5000, n)); err != nil {
				b.Fatal(err)
			}
		}
	}
	rate := float64(n*b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "events/s")
	return rate
}

// eventColumns are the events columns the COPY baseline writes, as the
// store does.
var eventColumns = []string{
	"project", "source", "id", "type", "subject", "time", "received_at",
	"datacontenttype", "dataschema", "props", "data", "extensions",
}

// copyRows lays evs out as the store's rows, ready for COPY.
func copyRows(evs []*event.Event) [][]any {
	rows := make([][]any, len(evs))
	for i, e := range evs {
		ce := e.CE
		rows[i] = []any{
			e.Project, ce.Source(), ce.ID(), ce.Type(), ce.Subject(), ce.Time().UTC(), e.ReceivedAt.UTC(),
			ce.DataContentType(), nil, string(ce.Data()), nil, "{}",
		}
	}
	return rows
}

// truncateAll empties every table but schema_migrations, partitions kept.
func truncateAll(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
		SELECT quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND c.relname <> 'schema_migrations'`)
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
