package rollup_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
	"github.com/eventfn/eventfn/shared/store"
)

// withFeed returns a migrated database with the zones registered and
// evs stored, batch events a transaction (each a feed row per project).
func withFeed(t *testing.T, evs []*event.Event, batch int) (*pgxpool.Pool, *store.Store) {
	t.Helper()
	ctx := context.Background()
	pool, s := migrated(t)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, zones))
	for off := 0; off < len(evs); off += batch {
		_, err := s.InsertEvents(ctx, evs[off:min(off+batch, len(evs))])
		require.NoError(t, err)
	}
	return pool, s
}

// feedRows counts the feed's rows, and those a step holds.
func feedRows(t *testing.T, pool *pgxpool.Pool) (all, claimed int) {
	t.Helper()
	ctx := context.Background()
	var free int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rollup_feed`).Scan(&all))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT seq FROM rollup_feed FOR UPDATE SKIP LOCKED) f`).Scan(&free))
	return all, all - free
}

// claimedRows counts the feed rows a step holds.
func claimedRows(t *testing.T, pool *pgxpool.Pool) int {
	_, claimed := feedRows(t, pool)
	return claimed
}

// heldMaterializer returns a Materializer of one-event chunks (a chunk of
// one event is one feed row) whose first step stops before its commit:
// held is closed then, and the step goes on once release is closed.
func heldMaterializer(pool *pgxpool.Pool) (m *rollup.Materializer, held, release chan struct{}) {
	m = rollup.NewMaterializer(pool, 1)
	held, release = make(chan struct{}), make(chan struct{})
	var steps atomic.Int32
	m.SetBeforeCommit(func() {
		if steps.Add(1) == 1 {
			close(held)
			<-release
		}
	})
	return m, held, release
}

// drainResult is what a Drain returned.
type drainResult struct {
	n   int
	err error
}

// drainInBackground runs m.Drain with done and sends its result.
func drainInBackground(m *rollup.Materializer, done func(rollup.StepDone)) <-chan drainResult {
	out := make(chan drainResult, 1)
	go func() {
		n, err := m.Drain(context.Background(), done)
		out <- drainResult{n, err}
	}()
	return out
}

// assertDrainedOnce checks that a Drain moved n events and left nothing,
// and that every zone's rollups equal the ones rebuilt from scratch.
func assertDrainedOnce(t *testing.T, pool *pgxpool.Pool, r drainResult, n int) {
	t.Helper()
	require.NoError(t, r.err)
	assert.Equal(t, n, r.n)
	assert.Zero(t, rolluptest.Materialize(t, pool))
	for _, tz := range zones {
		assertRebuilt(t, pool, tz)
	}
}

// TestDrainPreparesTheNextChunkWhileOneApplies holds a Materializer's first
// step before its commit: the second step it keeps in flight must claim
// the next feed row meanwhile, and each step must lock only the rows it
// applies, leaving the rest to other steps. Then every event must be in
// the rollups once.
func TestDrainPreparesTheNextChunkWhileOneApplies(t *testing.T) {
	t.Parallel()
	evs := genEvents(9, 600)
	pool, _ := withFeed(t, evs, 100)
	rows, _ := feedRows(t, pool)
	require.Greater(t, rows, 4)

	m, held, release := heldMaterializer(pool)
	done := drainInBackground(m, nil)
	<-held
	// Liveness, not speed: the second step claims its row at once.
	assert.Eventually(t, func() bool { return claimedRows(t, pool) == 2 }, 10*time.Second, 10*time.Millisecond,
		"while the first step holds one row, the second claims one more and no other")
	close(release)
	assertDrainedOnce(t, pool, <-done, len(evs))
}

// TestDrainReportsTheTimeOfEachPhase holds a Materializer's first step
// before its commit while the second, prepared meanwhile, waits to apply
// its chunk: the first must report the hold as part of its commit, the
// second as its wait. Each step's phases are parts of its time, and the
// phases that talk to PostgreSQL in every step took some.
func TestDrainReportsTheTimeOfEachPhase(t *testing.T) {
	t.Parallel()
	evs := genEvents(10, 300)
	pool, _ := withFeed(t, evs, 100)

	m, held, release := heldMaterializer(pool)
	var mu sync.Mutex
	var reports []rollup.StepDone
	done := drainInBackground(m, func(s rollup.StepDone) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, s)
	})
	<-held
	assert.Eventually(t, func() bool { return claimedRows(t, pool) == 2 }, 10*time.Second, 10*time.Millisecond,
		"the second step claims its row while the first is held")
	const hold = 200 * time.Millisecond
	time.Sleep(hold)
	close(release)
	r := <-done
	require.NoError(t, r.err)

	require.NotEmpty(t, reports)
	events := 0
	var commits, waits []time.Duration
	for _, r := range reports {
		events += r.Events
		var sum time.Duration
		for _, p := range rollup.Phases() {
			sum += r.Times[p]
		}
		assert.LessOrEqual(t, sum, r.Took, "the phases are parts of the step")
		for _, p := range []rollup.Phase{rollup.PhaseClaim, rollup.PhaseLock, rollup.PhaseColumns, rollup.PhaseFirstSeen, rollup.PhaseCounters, rollup.PhaseCommit} {
			assert.Positive(t, r.Times[p], "phase %s", p)
		}
		commits, waits = append(commits, r.Times[rollup.PhaseCommit]), append(waits, r.Times[rollup.PhaseWait])
	}
	assert.Equal(t, len(evs), events)
	assert.Equal(t, len(evs), r.n)
	assert.GreaterOrEqual(t, slices.Max(commits), hold, "the held step counts the hold in its commit")
	assert.GreaterOrEqual(t, slices.Max(waits), hold, "the step prepared meanwhile counts the hold as its wait")
	assert.Zero(t, rolluptest.Materialize(t, pool))
}

// TestDrainKeepsTwoStepsGoingAsTheFeedGrows starts a Drain on a feed of
// one row, so that its second step finds nothing to claim, then adds rows
// while the first step is held before its commit: the second step must
// claim one of them meanwhile (a Drain that stopped its second step at
// the first empty claim ran one step at a time for as long as the feed
// kept growing, as under a sustained load). Then every event must be in
// the rollups once.
func TestDrainKeepsTwoStepsGoingAsTheFeedGrows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evs := genEvents(11, 301)
	// One event: one feed row.
	pool, s := withFeed(t, evs[:1], 1)

	m, held, release := heldMaterializer(pool)
	done := drainInBackground(m, nil)
	<-held
	for off := 1; off < len(evs); off += 100 {
		_, err := s.InsertEvents(ctx, evs[off:off+100])
		require.NoError(t, err)
	}
	// Liveness, not speed: the second step claims a new row while the
	// first is held.
	assert.Eventually(t, func() bool { return claimedRows(t, pool) == 2 }, 10*time.Second, 10*time.Millisecond,
		"while the first step is held, the second claims a row that came since")
	close(release)
	assertDrainedOnce(t, pool, <-done, len(evs))
}
