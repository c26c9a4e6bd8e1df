package stats_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestRetentionBringsFirstEventsForward asks the same retention question
// after each of several materialization steps that add users, move first
// events back within the window and out of it, and leave others alone:
// each answer must be the brute force's, and the process must have read
// rollup_users once, bringing that read forward from the steps' log
// after each step, until a rebuild (a version the log does not cover)
// makes it read again.
func TestRetentionBringsFirstEventsForward(t *testing.T) {
	// Not parallel: the counters are the process's.
	ctx := context.Background()
	url, pool := migratedDatabase(t, 2)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, []string{"UTC"}))
	s := store.New(pool)
	base := serveFunction(t, "stats-retention", func(deps serve.Deps) (*serve.Function, error) {
		return stats.NewColumnsOnly(ctx, "stats-retention", utcConfig(t, url), deps)
	})
	const query = "from=2026-11-02&to=2026-11-22&interval=week&periods=3"
	var evs []genEvent
	n := 0
	step := func(at ...any) {
		t.Helper()
		var batch []*event.Event
		for i := 0; i < len(at); i += 2 {
			n++
			g := genEvent{project: "shop", source: "web", id: fmt.Sprint("e", n), typ: "page_view", subject: at[i].(string), t: at[i+1].(time.Time)}
			evs = append(evs, g)
			batch = append(batch, g.event())
		}
		_, err := s.InsertEvents(ctx, batch)
		require.NoError(t, err)
		rolluptest.Materialize(t, pool)
	}
	check := func(wantRead, wantBrought int, what string) {
		t.Helper()
		read0, brought0 := stats.FirstSeenReads()
		a := get(t, base+"/?"+query, readKey)
		require.Equal(t, 200, a.status, "%s", a.body)
		want, err := json.Marshal(bruteRetention(evs, parseBF("shop", query)))
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(a.body), what)
		read, brought := stats.FirstSeenReads()
		require.Equal(t, [2]int{wantRead, wantBrought}, [2]int{read - read0, brought - brought0}, "%s: reads of rollup_users, reads brought forward", what)
	}
	day := func(m, d int) time.Time { return time.Date(2026, time.Month(m), d, 12, 0, 0, 0, time.UTC) }

	step("alice", day(11, 18), "bob", day(11, 10), "carol", day(10, 20), "carol", day(11, 11), "erin", day(11, 3))
	check(1, 0, "first read")
	check(0, 0, "the same version")
	step("dave", day(11, 9), // new, in the window
		"alice", day(11, 4), // moved back within the window
		"bob", day(10, 25), // moved back out of the window
		"carol", day(10, 1), // began before the window already
		"erin", day(11, 20)) // a later event: first event unchanged
	check(0, 1, "after a step")
	step("frank", day(10, 30), "frank", day(11, 12), "bob", day(11, 19)) // new, before the window
	step("gina", day(11, 16), "erin", day(11, 2))                        // two steps at once
	check(0, 1, "after two steps")
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, []string{"UTC", "Europe/Paris"}))
	step("hana", day(11, 5))
	check(1, 0, "after a rebuild")
	check(0, 0, "the same version again")
}
