package rollup_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
)

// TestFirstSeenLogAccountsForEveryUser materializes events step by step,
// most of them earlier than their users' first events so far, and checks
// after each step that what the steps logged since the zones were built
// gives every stored user, and its first_seen as the earliest time
// logged; a range reaching back past the last 64 steps, or to the
// rebuild that built the zones, is incomplete.
func TestFirstSeenLogAccountsForEveryUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := migrated(t)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, zones))
	built, err := rollup.Version(ctx, pool)
	require.NoError(t, err)
	require.Positive(t, built, "the zones' rebuild counts as a change")
	_, _, complete, err := rollup.FirstSeenSince(ctx, pool, "shop", built-1, built)
	require.NoError(t, err)
	require.False(t, complete, "a rebuild leaves no row")

	stored := func(project string) map[int32]int64 {
		rows, err := pool.Query(ctx, `SELECT uid, first_seen FROM rollup_users WHERE project = $1`, project)
		require.NoError(t, err)
		out := map[int32]int64{}
		var uid int32
		var at time.Time
		for rows.Next() {
			require.NoError(t, rows.Scan(&uid, &at))
			out[uid] = at.UnixMicro()
		}
		require.NoError(t, rows.Err())
		return out
	}
	evs := genEvents(11, 1200)
	for off := 0; off < len(evs); off += 40 {
		_, err := s.InsertEvents(ctx, evs[off:off+40])
		require.NoError(t, err)
		rolluptest.Materialize(t, pool)
		v, err := rollup.Version(ctx, pool)
		require.NoError(t, err)
		for _, project := range []string{"shop", "blog"} {
			uids, firsts, complete, err := rollup.FirstSeenSince(ctx, pool, project, built, v)
			require.NoError(t, err)
			require.True(t, complete, "versions %d to %d", built, v)
			logged := map[int32]int64{}
			for i, uid := range uids {
				if have, ok := logged[uid]; !ok || firsts[i].UnixMicro() < have {
					logged[uid] = firsts[i].UnixMicro()
				}
			}
			require.Equal(t, stored(project), logged, "%s after version %d", project, v)
		}
	}

	last, err := rollup.Version(ctx, pool)
	require.NoError(t, err)
	more := genEvents(12, 1240)[1200:] // ids of their own
	for i := range more {
		_, err := s.InsertEvents(ctx, more[i:i+1])
		require.NoError(t, err)
		rolluptest.Materialize(t, pool)
	}
	v, err := rollup.Version(ctx, pool)
	require.NoError(t, err)
	require.Greater(t, v-built, int64(64))
	for _, c := range []struct {
		after    int64
		complete bool
	}{{built, false}, {last, true}, {v - 64, true}, {v - 65, false}} {
		_, _, complete, err := rollup.FirstSeenSince(ctx, pool, "shop", c.after, v)
		require.NoError(t, err)
		require.Equal(t, c.complete, complete, "versions %d to %d", c.after, v)
	}
	var kept int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(DISTINCT version) FROM rollup_first_seen_log`).Scan(&kept))
	require.Equal(t, 64, kept)
}
