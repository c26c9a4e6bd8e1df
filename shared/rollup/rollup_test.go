package rollup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

var zones = []string{"America/New_York", "Europe/Kyiv", "UTC"}

func migrated(t *testing.T) (*pgxpool.Pool, *store.Store) {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: testenv.Database(t), DatabaseMaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, store.Migrate(ctx, pool))
	return pool, store.New(pool)
}

// genEvents returns n events of two projects over 70 days around the
// 2026 autumn DST changes, a tenth of them anonymous, with properties.
func genEvents(seed uint64, n int) []*event.Event {
	return genEventsOf(seed, n, 120, 5, 70)
}

// genEventsOf is genEvents with users, types and days of its own.
func genEventsOf(seed uint64, n, users, types, days int) []*event.Event {
	r := rand.New(rand.NewPCG(seed, 7))
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	evs := make([]*event.Event, n)
	for i := range evs {
		ce := cloudevents.New()
		ce.SetID(fmt.Sprintf("e%d", i))
		ce.SetSource(fmt.Sprintf("src%d", r.IntN(3)))
		ce.SetType(fmt.Sprintf("type%d", r.IntN(types)))
		if r.IntN(10) > 0 {
			ce.SetSubject(fmt.Sprintf("user%d", r.IntN(users)))
		}
		ce.SetTime(start.Add(time.Duration(r.Int64N(int64(days) * int64(24*time.Hour)))).Truncate(time.Second))
		props, _ := json.Marshal(map[string]any{"plan": []string{"free", "pro"}[r.IntN(2)], "n": r.IntN(4)})
		_ = ce.SetData(cloudevents.ApplicationJSON, props)
		project := "shop"
		if r.IntN(5) == 0 {
			project = "blog"
		}
		evs[i] = &event.Event{Project: project, CE: ce, ReceivedAt: time.Now()}
	}
	return evs
}

// assertRebuilt checks that the calendar rollups of zone tz, as the
// consumer's increments left them, equal the ones Rebuild computes from
// scratch (in a transaction rolled back after).
func assertRebuilt(t *testing.T, pool *pgxpool.Pool, tz string) {
	t.Helper()
	ctx := context.Background()
	incremental := rolluptest.Calendar(t, pool, tz)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	require.NoError(t, rollup.Rebuild(ctx, tx, tz))
	rebuilt := rolluptest.Calendar(t, tx, tz)
	for table := range rebuilt {
		assert.Equal(t, rebuilt[table], incremental[table], "%s in %s", table, tz)
	}
}

func deadlocks(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").Scan(&n))
	return n
}

// TestApplyMatchesRebuild writes events through the real write path in
// shuffled batches from four goroutines at once, redelivering some
// batches, while four materializers move the feed into the rollups in
// small chunks, so that late events, users' cohorts moving back and the
// same users in concurrent chunks all occur. The incremental rollups of
// every zone must then equal the ones rebuilt from scratch, without a
// deadlock.
func TestApplyMatchesRebuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := migrated(t)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, zones))
	evs := genEvents(1, 4000)
	r := rand.New(rand.NewPCG(2, 2))
	r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	var batches [][]*event.Event
	for off := 0; off < len(evs); {
		n := 1 + r.IntN(300)
		end := min(off+n, len(evs))
		batches = append(batches, evs[off:end])
		if r.IntN(4) == 0 { // redelivery of an earlier batch
			batches = append(batches, batches[r.IntN(len(batches))])
		}
		off = end
	}
	before := deadlocks(t, pool)
	var wg sync.WaitGroup
	work := make(chan []*event.Event)
	inserted := make([]int, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				res, err := s.InsertEvents(ctx, b)
				assert.NoError(t, err)
				inserted[w] += res.Inserted
			}
		}()
	}
	materialized := make([]int, 4)
	stop := make(chan struct{})
	var mwg sync.WaitGroup
	for w := range materialized {
		m := rollup.NewMaterializer(pool, 200+100*w)
		mwg.Go(func() {
			for {
				n, err := m.Step(ctx)
				assert.NoError(t, err)
				materialized[w] += n
				if n == 0 {
					select {
					case <-stop:
						materialized[w] += rolluptest.Drain(t, m)
						return
					case <-time.After(time.Millisecond):
					}
				}
			}
		})
	}
	for _, b := range batches {
		work <- b
	}
	close(work)
	wg.Wait()
	close(stop)
	mwg.Wait()
	applied := 0
	for _, n := range materialized {
		applied += n
	}
	require.Equal(t, len(evs), applied, "each event materialized once")
	total := 0
	for _, n := range inserted {
		total += n
	}
	require.Equal(t, len(evs), total, "each event inserted once")
	assert.Equal(t, before, deadlocks(t, pool), "concurrent batches deadlocked")

	var elements int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT coalesce(sum(n), 0) FROM rollup_cols WHERE kind = 't'").Scan(&elements))
	assert.EqualValues(t, len(evs), elements, "every event is in the columns once")

	firsts := map[string]time.Time{}
	for _, e := range evs {
		if sub := e.CE.Subject(); sub != "" {
			k := e.Project + "/" + sub
			if f, ok := firsts[k]; !ok || e.CE.Time().Before(f) {
				firsts[k] = e.CE.Time()
			}
		}
	}
	rows, err := pool.Query(ctx, "SELECT project || '/' || subject, first_seen FROM rollup_users")
	require.NoError(t, err)
	got := map[string]time.Time{}
	var k string
	var f time.Time
	_, err = pgx.ForEachRow(rows, []any{&k, &f}, func() error { got[k] = f.UTC(); return nil })
	require.NoError(t, err)
	for k, v := range firsts {
		firsts[k] = v.UTC()
	}
	assert.Equal(t, firsts, got, "first_seen is each user's earliest event")

	for _, tz := range zones {
		require.NotEmpty(t, rolluptest.Calendar(t, pool, tz)["rollup_retention"])
		assertRebuilt(t, pool, tz)
	}
}

// TestApplyWithMemosMatchesRebuild stores events that mostly repeat a
// user's activity of a day, as steady traffic does, while two
// materializers (two replicas, each remembering what it committed) move
// them into the rollups, adding a zone half way. Whatever each replica's
// memory spares, the rollups of every zone must equal the ones rebuilt
// from scratch.
func TestApplyWithMemosMatchesRebuild(t *testing.T) {
	t.Parallel()
	// 40 users, 3 types: most events repeat a stored activity. Over 12
	// days a user's weeks and months hold most of their days; over 150,
	// the windows a narrow read takes leave most out.
	for _, days := range []int{12, 150} {
		// One replica applies every chunk, so its memo's histories stay
		// exact and spare most reads; two take turns, and the one that
		// reads narrowly (by (user, type), type 0 by window) has the
		// other's chunks in between.
		for _, replicas := range []int{1, 2} {
			t.Run(fmt.Sprintf("days=%d/replicas=%d", days, replicas), func(t *testing.T) {
				t.Parallel()
				applyWithMemos(t, genEventsOf(4, 6000, 40, 3, days), replicas)
			})
		}
	}
}

func applyWithMemos(t *testing.T, evs []*event.Event, replicas int) {
	ctx := context.Background()
	pool, s := migrated(t)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, []string{"UTC", "Europe/Kyiv"}))
	r := rand.New(rand.NewPCG(5, 5))
	r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	ms := []*rollup.Materializer{rollup.NewMaterializer(pool, 100), rollup.NewMaterializer(pool, 150)}[:replicas]
	if replicas > 1 {
		rollup.ReadNarrowly(ms[1])
	}
	for half, part := range [][]*event.Event{evs[:3000], evs[3000:]} {
		if half == 1 {
			// A rebuild of the new zone's rollups changes them under the
			// memos.
			require.NoError(t, rollup.EnsureTimezones(ctx, pool, []string{"America/New_York"}))
		}
		for off := 0; off < len(part); off += 400 {
			_, err := s.InsertEvents(ctx, part[off:min(off+400, len(part))])
			require.NoError(t, err)
			var wg sync.WaitGroup
			for _, m := range ms {
				wg.Go(func() { rolluptest.Drain(t, m) })
			}
			wg.Wait()
		}
	}
	var stored int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&stored))
	require.Equal(t, len(evs), stored)
	for _, tz := range zones {
		assertRebuilt(t, pool, tz)
	}
}

// TestRollupsWhereClocksFellBackAcrossMidnight drains each part of the
// events with a materializer of its own that reads type 0 by window (its
// users looked up, their first days read back). In America/Goose_Bay one
// user's first event (00:00:30 on 1 November 2009) is dated a day after
// its second (23:01:30 on 31 October, after the clocks fell back at
// 00:01); later parts add 3 November and then a late event that moves the
// cohort back. The rollups of every zone must equal the ones rebuilt from
// the columns, which date events through DayCuts.
func TestRollupsWhereClocksFellBackAcrossMidnight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := migrated(t)
	tzs := append([]string{"America/Goose_Bay"}, zones...)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, tzs))
	goose := func(id, ts string) *event.Event {
		tm, err := time.Parse(time.RFC3339, ts)
		require.NoError(t, err)
		ce := cloudevents.New()
		ce.SetID(id)
		ce.SetSource("src")
		ce.SetType("visit")
		ce.SetSubject("goose")
		ce.SetTime(tm)
		return &event.Event{Project: "shop", CE: ce, ReceivedAt: time.Now()}
	}
	evs := genEventsOf(9, 3000, 40, 3, 70)
	parts := [][]*event.Event{
		append(evs[:1000:1000], goose("g1", "2009-11-01T03:00:30Z"), goose("g2", "2009-11-01T03:01:30Z")),
		append(evs[1000:2000:2000], goose("g3", "2009-11-03T12:00:00Z")),
		append(evs[2000:3000:3000], goose("g4", "2009-10-20T12:00:00Z"), goose("g5", "2009-11-04T12:00:00Z")),
	}
	for _, part := range parts {
		_, err := s.InsertEvents(ctx, part)
		require.NoError(t, err)
		// Statistics tell a new materializer the mean history, long
		// enough for a narrow read of every user it has not met.
		_, err = pool.Exec(ctx, "ANALYZE rollup_user_days")
		require.NoError(t, err)
		m := rollup.NewMaterializer(pool, 0)
		rollup.ReadNarrowly(m)
		require.Equal(t, len(part), rolluptest.Drain(t, m))
	}
	for _, tz := range tzs {
		assertRebuilt(t, pool, tz)
	}
}

// TestEnsureTimezonesBackfills adds a zone after events were stored, with
// some of them still in the feed: its rollups must be those of a database
// where the zone was there first.
func TestEnsureTimezonesBackfills(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evs := genEvents(3, 600)
	early, earlyStore := migrated(t)
	require.NoError(t, rollup.EnsureTimezones(ctx, early, []string{"Europe/Kyiv"}))
	late, lateStore := migrated(t)
	// The same chunks in both; Calendar names users by subject, as the
	// two Drains may give ids in different orders.
	earlyRollups, lateRollups := rollup.NewMaterializer(early, 0), rollup.NewMaterializer(late, 0)
	for off := 0; off < len(evs); off += 100 {
		_, err := earlyStore.InsertEvents(ctx, evs[off:off+100])
		require.NoError(t, err)
		_, err = lateStore.InsertEvents(ctx, evs[off:off+100])
		require.NoError(t, err)
		if off < 300 {
			rolluptest.Drain(t, earlyRollups)
			rolluptest.Drain(t, lateRollups)
		}
	}
	rolluptest.Drain(t, earlyRollups)
	require.NoError(t, rollup.EnsureTimezones(ctx, late, []string{"UTC", "Europe/Kyiv"}))
	assert.Equal(t, 300, rolluptest.Drain(t, lateRollups), "the events still in the feed reach the new zone too")
	tzs, err := rollup.Timezones(ctx, late)
	require.NoError(t, err)
	assert.Equal(t, []string{"Europe/Kyiv", "UTC"}, tzs)
	assert.Equal(t, rolluptest.Calendar(t, early, "Europe/Kyiv"), rolluptest.Calendar(t, late, "Europe/Kyiv"))

	err = rollup.EnsureTimezones(ctx, late, []string{"Mars/Olympus"})
	assert.ErrorContains(t, err, "Mars/Olympus")
}

// TestFirstEventAtTheZeroTime stores a user's event, then an earlier one
// at 0001-01-01T00:00:00Z (a valid time, and Go's zero time), then one on
// a new day: the user's cohort stays year 1's, in every zone, whether the
// materializer remembers the user from an earlier chunk or reads them back.
func TestFirstEventAtTheZeroTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := migrated(t)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, zones))
	remembering := rollup.NewMaterializer(pool, 0)
	at := func(project, id, ts string) []*event.Event {
		ce := cloudevents.New()
		ce.SetID(id)
		ce.SetSource("src")
		ce.SetType("visit")
		ce.SetSubject("u")
		tm, err := time.Parse(time.RFC3339, ts)
		require.NoError(t, err)
		// Not SetTime, which takes the zero time for "no time".
		ce.Context.(*cloudevents.EventContextV1).Time = &types.Timestamp{Time: tm}
		return []*event.Event{{Project: project, CE: ce, ReceivedAt: time.Now()}}
	}
	for _, project := range []string{"shop", "blog"} {
		for i, ts := range []string{"2026-11-26T01:00:00Z", "0001-01-01T00:00:00Z", "2026-11-27T01:00:00Z"} {
			m := remembering
			if project == "blog" {
				m = rollup.NewMaterializer(pool, 0) // nothing remembered: the user is read back
			}
			res, err := s.InsertEvents(ctx, at(project, fmt.Sprint(i), ts))
			require.NoError(t, err)
			require.Equal(t, 1, res.Inserted)
			require.Equal(t, 1, rolluptest.Drain(t, m))
		}
	}
	rows, err := pool.Query(ctx, "SELECT first_seen FROM rollup_users ORDER BY project")
	require.NoError(t, err)
	firsts, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	require.NoError(t, err)
	zero := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, []time.Time{zero, zero}, []time.Time{firsts[0].UTC(), firsts[1].UTC()})
	for _, tz := range zones {
		assertRebuilt(t, pool, tz)
	}
}
