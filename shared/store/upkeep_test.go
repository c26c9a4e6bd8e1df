package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// The feed is where autovacuum's absence hurts most (rows inserted and
// deleted all day); with autovacuum off for it alone, the test holds
// whether the server runs autovacuum or not.
func TestUpkeepVacuumsAndAnalysesWhatAutovacuumLeaves(t *testing.T) {
	ctx := context.Background()
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: testenv.Database(t), DatabaseMaxConns: 4})
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, store.Migrate(ctx, pool))
	_, err = pool.Exec(ctx, `ALTER TABLE rollup_feed SET (autovacuum_enabled = false)`)
	require.NoError(t, err)

	var serverDelay string
	require.NoError(t, pool.QueryRow(ctx, `SELECT current_setting('vacuum_cost_delay')`).Scan(&serverDelay))
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	for _, sql := range []string{
		`INSERT INTO rollup_feed (project, day_lo, day_hi, n, events) SELECT 'p', 1, 1, 1, '\x00' FROM generate_series(1, 3000)`,
		`DELETE FROM rollup_feed WHERE seq % 4 <> 0`,
		// The server publishes a session's counts when it next goes idle,
		// at most once a second unless told to.
		`SELECT pg_stat_force_next_flush()`,
		`SELECT 1`,
	} {
		_, err := conn.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	conn.Release()
	feedStats := func() (dead int64, vacuumed, analyzed bool) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT n_dead_tup, last_vacuum IS NOT NULL, last_analyze IS NOT NULL
			FROM pg_stat_user_tables WHERE relid = 'rollup_feed'::regclass`).Scan(&dead, &vacuumed, &analyzed))
		return dead, vacuumed, analyzed
	}
	require.Eventually(t, func() bool { dead, _, _ := feedStats(); return dead >= 2000 }, 30*time.Second, 100*time.Millisecond,
		"the server never counted the deleted rows")

	res, err := store.Upkeep(ctx, pool)
	require.NoError(t, err)
	assert.Contains(t, res.Vacuumed, "public.rollup_feed")
	assert.Contains(t, res.Analyzed, "public.rollup_feed")
	_, vacuumed, analyzed := feedStats()
	assert.True(t, vacuumed, "rollup_feed vacuumed")
	assert.True(t, analyzed, "rollup_feed analysed")
	var tuples float64
	require.NoError(t, pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'rollup_feed'::regclass`).Scan(&tuples))
	assert.Equal(t, 750.0, tuples, "the planner now knows the feed's size")

	// Nothing happened since: nothing is due, the feed is left alone.
	res, err = store.Upkeep(ctx, pool)
	require.NoError(t, err)
	assert.NotContains(t, res.Vacuumed, "public.rollup_feed")
	assert.NotContains(t, res.Analyzed, "public.rollup_feed")

	// Every pooled connection, the one that ran the vacuums included, is
	// back to the server's settings: upkeep throttles only its own work.
	for range 4 {
		c, err := pool.Acquire(ctx)
		require.NoError(t, err)
		defer c.Release()
		var delay string
		require.NoError(t, c.QueryRow(ctx, `SELECT current_setting('vacuum_cost_delay')`).Scan(&delay))
		assert.Equal(t, serverDelay, delay)
	}
}
