package rollup_test

import (
	"context"
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
