package rollup_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
)

// TestDrainPreparesTheNextChunkWhileOneApplies holds a Materializer's first
// step before its commit: the second step it keeps in flight must claim
// the next feed row meanwhile, and each step must lock only the rows it
// applies, leaving the rest to other steps. Then every event must be in
// the rollups once.
func TestDrainPreparesTheNextChunkWhileOneApplies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := migrated(t)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, zones))
	evs := genEvents(9, 600)
	for off := 0; off < len(evs); off += 100 {
		_, err := s.InsertEvents(ctx, evs[off:off+100])
		require.NoError(t, err)
	}
	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rollup_feed`).Scan(&rows))
	require.Greater(t, rows, 4)
	free := func() int {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		var n int
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT seq FROM rollup_feed FOR UPDATE SKIP LOCKED) f`).Scan(&n))
		return n
	}

	// A chunk of one event is one feed row.
	m := rollup.NewMaterializer(pool, 1)
	held, release := make(chan struct{}), make(chan struct{})
	var steps atomic.Int32
	m.SetBeforeCommit(func() {
		if steps.Add(1) == 1 {
			close(held)
			<-release
		}
	})
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := m.Drain(ctx, nil)
		done <- result{n, err}
	}()
	<-held
	// Liveness, not speed: the second step claims its row at once.
	assert.Eventually(t, func() bool { return free() == rows-2 }, 10*time.Second, 10*time.Millisecond,
		"while the first step holds one row, the second claims one more and no other")
	close(release)
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, len(evs), r.n)
	assert.Zero(t, rolluptest.Materialize(t, pool))
	for _, tz := range zones {
		assertRebuilt(t, pool, tz)
	}
}

// TestDrainReportsTheTimeOfEachPhase holds a Materializer's first step
// before its commit while the second, prepared meanwhile, waits to apply
// its chunk: the first must report the hold as part of its commit, the
// second as its wait. Each step's phases are parts of its time, and the
// phases that talk to PostgreSQL in every step took some.
func TestDrainReportsTheTimeOfEachPhase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := migrated(t)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, zones))
	evs := genEvents(10, 300)
	for off := 0; off < len(evs); off += 100 {
		_, err := s.InsertEvents(ctx, evs[off:off+100])
		require.NoError(t, err)
	}
	claimed := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rollup_feed`).Scan(&n))
		var free int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT seq FROM rollup_feed FOR UPDATE SKIP LOCKED) f`).Scan(&free))
		return n - free
	}

	m := rollup.NewMaterializer(pool, 1)
	held, release := make(chan struct{}), make(chan struct{})
	var steps atomic.Int32
	m.SetBeforeCommit(func() {
		if steps.Add(1) == 1 {
			close(held)
			<-release
		}
	})
	var mu sync.Mutex
	var reports []rollup.StepDone
	done := make(chan error, 1)
	go func() {
		_, err := m.Drain(ctx, func(s rollup.StepDone) {
			mu.Lock()
			defer mu.Unlock()
			reports = append(reports, s)
		})
		done <- err
	}()
	<-held
	assert.Eventually(t, func() bool { return claimed() == 2 }, 10*time.Second, 10*time.Millisecond,
		"the second step claims its row while the first is held")
	const hold = 200 * time.Millisecond
	time.Sleep(hold)
	close(release)
	require.NoError(t, <-done)

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
	pool, s := migrated(t)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, zones))
	evs := genEvents(11, 301)
	// One event: one feed row.
	_, err := s.InsertEvents(ctx, evs[:1])
	require.NoError(t, err)
	claimed := func() int {
		var n, free int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rollup_feed`).Scan(&n))
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT seq FROM rollup_feed FOR UPDATE SKIP LOCKED) f`).Scan(&free))
		return n - free
	}

	// A chunk of one event is one feed row.
	m := rollup.NewMaterializer(pool, 1)
	held, release := make(chan struct{}), make(chan struct{})
	var steps atomic.Int32
	m.SetBeforeCommit(func() {
		if steps.Add(1) == 1 {
			close(held)
			<-release
		}
	})
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := m.Drain(ctx, nil)
		done <- result{n, err}
	}()
	<-held
	for off := 1; off < len(evs); off += 100 {
		_, err := s.InsertEvents(ctx, evs[off:off+100])
		require.NoError(t, err)
	}
	// Liveness, not speed: the second step claims a new row while the
	// first is held.
	assert.Eventually(t, func() bool { return claimed() == 2 }, 10*time.Second, 10*time.Millisecond,
		"while the first step is held, the second claims a row that came since")
	close(release)
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, len(evs), r.n)
	assert.Zero(t, rolluptest.Materialize(t, pool))
	for _, tz := range zones {
		assertRebuilt(t, pool, tz)
	}
}
