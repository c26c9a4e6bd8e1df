package consume

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// TestLateEventsAreStoredAndCountedInTheRollups consumes events 60 days
// old after recent ones. It checks the rollups without knowing their
// tables: every table besides events and event_ids must change when the
// late events (a new user, a new type, properties) arrive, and the whole
// database must end exactly as when the same events are written directly
// with store.InsertEvents and materialized, rollup.Apply being the one
// place aggregates are computed (and tested by the rollup package against
// its own reads).
func TestLateEventsAreStoredAndCountedInTheRollups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, testenv.NATSURL(), nil)
	c := h.consumer(t)
	now := time.Now().UTC().Truncate(time.Second)
	// Noon, so that the late events' minutes stay in one day whenever
	// the test runs (it failed once run just before midnight).
	late := now.AddDate(0, 0, -60).Truncate(24 * time.Hour).Add(12 * time.Hour)

	var recent, old []*event.Event
	for i := range 20 {
		recent = append(recent, newEvent("shop", fmt.Sprintf("r%d", i), "page_view", fmt.Sprintf("u%d", i%5), now.Add(-time.Duration(i)*time.Hour)))
	}
	for i := range 5 {
		old = append(old, newEvent("shop", fmt.Sprintf("late%d", i), "late_signup", fmt.Sprintf("late-user-%d", i%2), late.Add(time.Duration(i)*time.Minute)))
	}
	h.publish(t, recent...)
	require.Equal(t, Result{Consumed: 20, Inserted: 20}, h.drainAll(t, c))
	require.Equal(t, 20, rolluptest.Materialize(t, h.pool))
	before := dbSnapshot(t, h.pool)

	h.publish(t, old...)
	require.Equal(t, Result{Consumed: 5, Inserted: 5}, h.drainAll(t, c))
	require.Equal(t, 5, rolluptest.Materialize(t, h.pool))
	after := dbSnapshot(t, h.pool)
	assert.Equal(t, 5, h.count(t, "SELECT count(*) FROM events WHERE time >= $1 AND time < $2", late.Truncate(24*time.Hour), late.Truncate(24*time.Hour).Add(24*time.Hour)),
		"stored in the partition of their own day")
	rollups := 0
	for table := range after {
		if table == "events" || table == "event_ids" || table == "rollup_feed" {
			continue
		}
		rollups++
		assert.NotEqual(t, before[table], after[table], "rollup table %s did not count the late events", table)
	}
	t.Logf("rollup tables checked: %d (%s)", rollups, tableNames(after))

	// The same events written directly: every table, rollups included, the same.
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: testenv.Database(t), DatabaseMaxConns: 2})
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, store.Migrate(ctx, pool))
	s := store.New(pool)
	_, err = s.InsertEvents(ctx, recent)
	require.NoError(t, err)
	rolluptest.Materialize(t, pool)
	_, err = s.InsertEvents(ctx, old)
	require.NoError(t, err)
	rolluptest.Materialize(t, pool)
	assert.Equal(t, dbSnapshot(t, pool), after)
}
