package stats_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/stats"
	"github.com/eventfn/eventfn/shared/store"
)

// TestRetentionSeesAFirstEventMovedBackWithoutNewUsers asks the columns'
// retention the same question before and after a materialization step
// that only moves a stored user's first event back (no user is new, so
// the highest user id stays): the process keeps first events it read per
// version of the rollups, and the second answer must not be the first
// one's.
func TestRetentionSeesAFirstEventMovedBackWithoutNewUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool := migratedDatabase(t, 2)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, []string{"UTC"}))
	s := store.New(pool)
	put := func(id, subject string, at time.Time) {
		t.Helper()
		_, err := s.InsertEvents(ctx, []*event.Event{genEvent{project: "shop", source: "web", id: id, typ: "page_view", subject: subject, t: at}.event()})
		require.NoError(t, err)
		rolluptest.Materialize(t, pool)
	}
	cfg := utcConfig(t, url)
	base := serveFunction(t, "stats-retention", func(deps serve.Deps) (*serve.Function, error) {
		return stats.NewColumnsOnly(ctx, "stats-retention", cfg, deps)
	})
	// cohorts returns each weekly cohort's counts, 2026-11-02 to -16.
	cohorts := func() [][]int64 {
		t.Helper()
		a := get(t, base+"/?from=2026-11-02&to=2026-11-18&interval=week&periods=3", readKey)
		require.Equal(t, 200, a.status, "%s", a.body)
		var res stats.RetentionResult
		require.NoError(t, json.Unmarshal(a.body, &res))
		var out [][]int64
		for _, c := range res.Cohorts {
			out = append(out, c.Retained)
		}
		return out
	}
	day := func(d int) time.Time { return time.Date(2026, 11, d, 12, 0, 0, 0, time.UTC) }
	put("a1", "alice", day(18))
	put("b1", "bob", day(18))
	want := [][]int64{{0, 0, 0}, {0, 0}, {2}}
	require.Equal(t, want, cohorts())
	require.Equal(t, want, cohorts(), "asked again in the same version")

	put("a0", "alice", day(4)) // alice's first event moves back two weeks
	want = [][]int64{{1, 0, 1}, {0, 0}, {1}}
	require.Equal(t, want, cohorts())
	require.Equal(t, want, cohorts(), "asked again in the same version")
}
