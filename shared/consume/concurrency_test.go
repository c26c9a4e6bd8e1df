package consume

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// workload returns n distinct events over three projects, many types and
// users, the last 30 days and some 60 days back, then resends exact copies
// of every tenth one, as retrying clients do.
func workload(n int) (unique, all []*event.Event) {
	base := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	if now := time.Now().UTC(); base.After(now) {
		base = now.Truncate(time.Hour)
	}
	unique = make([]*event.Event, n)
	for i := range unique {
		at := base.Add(-time.Duration(i%(30*24)) * time.Hour)
		if i%10 == 3 {
			at = base.AddDate(0, 0, -60).Add(time.Duration(i%24) * time.Hour)
		}
		unique[i] = newEvent(fmt.Sprintf("p%d", i%3), fmt.Sprintf("id-%d", i), fmt.Sprintf("type_%d", i%17),
			fmt.Sprintf("user-%d", i%2000), at)
		unique[i].ReceivedAt = base
	}
	all = append(all, unique...)
	for i := 0; i < n; i += 10 {
		all = append(all, unique[i])
	}
	return unique, all
}

// referenceSnapshot stores unique directly, in one process and one order,
// and returns the database's URL: what any consumption must end with.
func referenceSnapshot(t *testing.T, unique []*event.Event) string {
	t.Helper()
	ctx := context.Background()
	url := testenv.Database(t)
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: url, DatabaseMaxConns: 2})
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, store.Migrate(ctx, pool))
	s := store.New(pool)
	for off := 0; off < len(unique); off += 5000 {
		_, err := s.InsertEvents(ctx, unique[off:min(off+5000, len(unique))])
		require.NoError(t, err)
	}
	rolluptest.Materialize(t, pool)
	return url
}

// identityTables are the tables that must end byte-identical however the
// events were consumed; the rollups hold ids that depend on commit order,
// so they are compared by the stats answers they give.
var identityTables = []string{"events", "event_ids"}

func pick(snap map[string]string, tables []string) map[string]string {
	out := map[string]string{}
	for _, t := range tables {
		out[t] = snap[t]
	}
	return out
}

// TestConcurrentConsumersCountExactlyWithoutDeadlock drains 50,000
// messages (45,000 events and 5,000 re-sends) with 2 and with 4 consumers
// at once, each a replica of its own. Every table must end exactly as one
// sequential insert of the 45,000 leaves it (the events and identities
// byte for byte, the rollups by every stats answer they give), and
// PostgreSQL must have seen no deadlock (its lost races would be retried
// and hidden otherwise).
func TestConcurrentConsumersCountExactlyWithoutDeadlock(t *testing.T) {
	t.Parallel()
	const distinct = 45000
	unique, all := workload(distinct)
	h := newHarness(t, testenv.NATSURL(), func(c *Config) {
		c.BatchSize = 2500
		c.Postgres.DatabaseMaxConns = 2
		// Not the harness's 1 s: fetching and decoding a batch under the
		// race detector can outlast it, and a redelivery, harmless as it is,
		// would count a message twice in the answers compared below. With
		// make test's coverage counters too, a batch of four consumers on a
		// loaded machine outlasted 30 s.
		c.AckWait = 2 * time.Minute
	})
	h.publish(t, all...)
	refURL := referenceSnapshot(t, unique)
	refPool, err := store.Open(context.Background(), config.Postgres{DatabaseURL: refURL, DatabaseMaxConns: 2})
	require.NoError(t, err)
	want := pick(dbSnapshot(t, refPool), identityTables)
	refPool.Close()
	projects := []string{"p0", "p1", "p2"}
	wantAnswers := statsAnswers(t, refURL, projects, unique[0].ReceivedAt)

	for _, n := range []int{2, 4} {
		t.Run(fmt.Sprintf("consumers=%d", n), func(t *testing.T) {
			// Same stream, a durable consumer and a database of its own.
			cfg := h.cfg
			cfg.Consumer = fmt.Sprintf("%s_%d", h.cfg.Consumer, n)
			cfg.DatabaseURL = testenv.Database(t)
			hh := &harness{cfg: cfg, pub: h.pub}
			consumers := make([]*Consumer, n)
			for i := range consumers {
				consumers[i] = hh.consumer(t)
			}
			pool, err := store.Open(context.Background(), config.Postgres{DatabaseURL: cfg.DatabaseURL, DatabaseMaxConns: 2})
			require.NoError(t, err)
			defer pool.Close()

			results := make([]Result, n)
			errs := make([]error, n)
			var rs retries
			var wg sync.WaitGroup
			for i, c := range consumers {
				// A bound on being stuck, not on speed: a loaded machine
				// running the race detector took over a minute here.
				wg.Go(func() { results[i], errs[i] = drainUntilEmpty(c, 10*time.Minute, &rs) })
			}
			wg.Wait()
			var total Result
			for i := range n {
				require.NoError(t, errs[i], "consumer %d", i)
				total.add(results[i])
			}
			if n := rs.n.Load(); n > 0 {
				t.Logf("%d drains failed for a passing reason and were retried; last: %v", n, rs.last.Load())
			}
			// Each event stored once. A message comes back when its ack
			// did not reach the server in time (a machine too loaded to
			// renew the ack wait): it is then counted as duplicates, which
			// changes no row.
			assert.Equal(t, distinct, total.Inserted)
			assert.Zero(t, total.DeadLettered)
			assert.Equal(t, total.Inserted+total.Duplicates, total.Consumed)
			assert.GreaterOrEqual(t, total.Duplicates, len(all)-distinct)
			if extra := total.Duplicates - (len(all) - distinct); extra > 0 {
				t.Logf("%d events came back after their batch committed (redeliveries)", extra)
			}
			assert.Equal(t, want, pick(dbSnapshot(t, pool), identityTables), "events and identities")
			// Stats count every stored event before the rollups have them
			// (from the feed) and after, all the same.
			assert.Equal(t, wantAnswers, statsAnswers(t, cfg.DatabaseURL, projects, unique[0].ReceivedAt), "every stats answer, from the feed")
			// The materializers of every replica at once, as in production.
			var mwg sync.WaitGroup
			for _, c := range consumers {
				mwg.Go(func() {
					_, err := c.Materialize(context.Background())
					assert.NoError(t, err)
				})
			}
			mwg.Wait()
			var left int
			require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM rollup_feed").Scan(&left))
			assert.Zero(t, left, "the feed is empty")
			assert.Equal(t, wantAnswers, statsAnswers(t, cfg.DatabaseURL, projects, unique[0].ReceivedAt), "every stats answer, from the rollups")
			assert.Zero(t, deadlocks(t, pool, consumers), "deadlocks detected by PostgreSQL")
		})
	}
}

// retries records the passing failures drainUntilEmpty drained past, so
// that the test can report them.
type retries struct {
	n    atomic.Int64
	last atomic.Value
}

// drainUntilEmpty drains with c until the durable consumer has nothing
// pending, polling while other replicas hold the last batches.
func drainUntilEmpty(c *Consumer, timeout time.Duration, rs *retries) (Result, error) {
	var total Result
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; {
		r, err := c.Drain(context.Background())
		total.add(r)
		if errors.Is(err, errUnavailable) && time.Now().Before(deadline) {
			// A passing failure: the trigger (a schedule, the loop) would
			// drain again, and so does the test; nothing is lost by it.
			rs.n.Add(1)
			rs.last.Store(err.Error())
			continue
		}
		if err != nil {
			return total, err
		}
		if r.Pending == 0 {
			return total, nil
		}
		if time.Now().After(deadline) {
			return total, fmt.Errorf("still %d pending after %s", r.Pending, timeout)
		}
		if r.Consumed == 0 {
			time.Sleep(wait)
			wait = min(2*wait, 50*time.Millisecond)
		}
	}
}

// deadlocks closes the consumers, whose backends then flush their
// statistics, and returns the deadlocks PostgreSQL counted in the database.
func deadlocks(t *testing.T, pool *pgxpool.Pool, consumers []*Consumer) int {
	t.Helper()
	ctx := context.Background()
	for _, c := range consumers {
		c.pool.Close()
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		var others int
		require.NoError(t, pool.QueryRow(ctx,
			`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`).Scan(&others))
		return others < int(pool.Stat().TotalConns())
	}, "consumer backends still connected")
	var n int
	require.NoError(t, pool.QueryRow(ctx,
		`SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n))
	return n
}
