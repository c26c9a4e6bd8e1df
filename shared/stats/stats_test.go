package stats_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/rollup"
)

var (
	ranges = []string{
		"from=2026-09-20&to=2026-11-18", // all the data
		"from=2026-10-10&to=2026-11-08", // 30 days over both DST changes
		"from=2026-10-25&to=2026-10-25", // Kyiv's DST change
		"from=2026-11-01&to=2026-11-01", // New York's DST change
		"from=2026-11-10&to=2026-12-20", // runs past the data
		"from=2026-01-01&to=2026-01-31", // no data at all
	}
	zonesParam = []string{"", "&tz=Europe/Kyiv", "&tz=America/New_York"}
	filters    = []string{
		"",
		"&type=page_view",
		"&type=checkout&type=signup",
		"&source=ios",
		"&prop.plan=pro",
		"&prop.n=3",   // 3, 3.0, 30e-1 and "3"
		"&prop.n=3.0", // the numbers, not the string "3"
		"&prop.vip=true",
		"&prop.plan=pro&prop.country=ua",
		"&type=search&source=web&prop.n=3",
		"&prop.plan=nope",
		"&type=nope",
		"&source=nope",
		"&source=%C3%BC%20app", // stored as %C3%BC%20app: either spelling finds it
		"&prop.meta=pro",       // nested values never match
	}
)

// rollupZones are the fixture's ROLLUP_TIMEZONES.
var rollupZones = map[string]bool{"": true, "&tz=Europe/Kyiv": true}

// check compares one query's answer, from the function as configured and
// from the columns-only one, with the brute force, and, once the feed is
// materialized, the configured function's path with the one the package
// documents (while the feed holds events of the query's days, the columns
// answer).
func (f *fixture) check(t *testing.T, fn, query string, wantRollup bool, brute func([]genEvent, bfQuery) any) {
	t.Helper()
	want, err := json.Marshal(brute(f.events, parseBF("shop", query)))
	require.NoError(t, err)
	var path string
	for i, base := range []string{f.urls[fn], f.columns[fn]} {
		a := get(t, base+"/?"+query, readKey)
		require.Equal(t, http.StatusOK, a.status, "%s ?%s: %s", fn, query, a.body)
		if i == 0 {
			path = a.header.Get("X-Stats-Path")
			if f.paths[fn] == nil {
				f.paths[fn] = map[string]int{}
			}
			f.paths[fn][path]++
		}
		if !assert.JSONEq(t, string(want), string(a.body), "%s ?%s (path %s)", fn, query, a.header.Get("X-Stats-Path")) {
			return
		}
	}
	if f.tail {
		return
	}
	if wantRollup {
		assert.Equal(t, "rollup", path, "%s ?%s", fn, query)
	} else {
		assert.Equal(t, "columns", path, "%s ?%s", fn, query)
	}
}

// TestStatsMatchBruteForce holds every function's JSON, on both paths, to
// the contract's definitions computed by brute force over the generated
// events: three zones (two with rollups) across both DST changes, every
// interval, every filter alone and combined, ranges past the data and
// without data, retention with start and return types.
func TestStatsMatchBruteForce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 5000)
	// First with half the events still in the feed (the tail of the
	// rollups: the older half, which moves cohorts back), then with every
	// event materialized.
	t.Run("tail", func(t *testing.T) { f.checkAll(t) })
	f.materialize(t)
	t.Run("materialized", func(t *testing.T) { f.checkAll(t) })
}

// TestStatsMatchBruteForceWithANewerTail holds the answers the rollups
// give, with the feed's events merged in, to the brute force when the
// feed holds the newer half: the queries the rollups answer, each zone,
// interval and type filter.
func TestStatsMatchBruteForceWithANewerTail(t *testing.T) {
	t.Parallel()
	f := newFixtureOrdered(t, 5000, true)
	retentionVariants := []string{"", "&interval=day&periods=3", "&interval=week&periods=52"}
	i := 0
	for _, r := range ranges {
		for _, z := range zonesParam {
			for _, flt := range []string{"", "&type=page_view", "&type=nope"} {
				i++
				f.check(t, "stats-dau", r+z+flt+[]string{"", "&interval=week", "&interval=month"}[i%3], false, bruteDAU)
				f.check(t, "stats-top", r+z+flt+"&limit=1000", false, bruteTop)
				f.check(t, "stats-retention", r+z+retentionVariants[i%len(retentionVariants)], false, bruteRetention)
			}
		}
	}
	for _, fn := range functionNames {
		assert.Positive(t, f.paths[fn]["rollup+tail"], "%s merged the feed into the rollups: %v", fn, f.paths[fn])
	}
}

func (f *fixture) checkAll(t *testing.T) {
	dauIntervals := []string{"", "&interval=day", "&interval=week", "&interval=month"}
	topLimits := []string{"", "&limit=3", "&limit=1000"}
	retentionVariants := []string{"", "&interval=day&periods=3", "&interval=week&periods=52", "&start_type=signup",
		"&return_type=checkout", "&start_type=signup&return_type=page_view&interval=day", "&start_type=page_view&return_type=page_view"}
	i := 0
	for _, r := range ranges {
		for _, z := range zonesParam {
			for _, flt := range filters {
				i++
				simple := !strings.Contains(flt, "prop.") && !strings.Contains(flt, "source=")
				q := r + z + flt + dauIntervals[i%len(dauIntervals)]
				f.check(t, "stats-dau", q, rollupZones[z] && simple && strings.Count(flt, "type=") <= 1, bruteDAU)
				f.check(t, "stats-top", r+z+flt+topLimits[i%len(topLimits)], rollupZones[z] && simple, bruteTop)
				rv := retentionVariants[i%len(retentionVariants)]
				f.check(t, "stats-retention", r+z+withoutTypes(flt)+rv,
					rollupZones[z] && simple && !strings.Contains(rv, "_type="), bruteRetention)
			}
		}
	}
	// Each interval and variant on its own over the DST month, once more.
	for _, z := range zonesParam {
		for _, iv := range dauIntervals {
			f.check(t, "stats-dau", ranges[1]+z+iv, rollupZones[z], bruteDAU)
		}
		for _, rv := range retentionVariants {
			f.check(t, "stats-retention", ranges[0]+z+rv, rollupZones[z] && !strings.Contains(rv, "_type="), bruteRetention)
		}
	}
	// Days whose midnight a jump skips (see generate), on the column path.
	for _, q := range []string{"from=2026-09-04&to=2026-09-08&tz=America/Santiago", "from=1994-12-28&to=1995-01-02&tz=Pacific/Kiritimati"} {
		for _, flt := range []string{"", "&source=ios"} {
			f.check(t, "stats-dau", q+flt, false, bruteDAU)
			f.check(t, "stats-top", q+flt, false, bruteTop)
			f.check(t, "stats-retention", q+flt+"&interval=day&periods=3", false, bruteRetention)
		}
	}

	// The stored spelling of a source finds the same events.
	for _, fn := range functionNames {
		a := get(t, f.urls[fn]+"/?"+ranges[0]+"&source=%25C3%25BC%2520app", readKey)
		b := get(t, f.urls[fn]+"/?"+ranges[0]+"&source=%C3%BC%20app", readKey)
		assert.JSONEq(t, string(b.body), string(a.body), fn)
		assert.NotEqual(t, string(get(t, f.urls[fn]+"/?"+ranges[0]+"&source=nope", readKey).body), string(a.body), fn)
	}

	// Another project's key sees that project only.
	for _, fn := range functionNames {
		brute := map[string]func([]genEvent, bfQuery) any{"stats-dau": bruteDAU, "stats-top": bruteTop, "stats-retention": bruteRetention}[fn]
		want, err := json.Marshal(brute(f.events, parseBF("other", ranges[0])))
		require.NoError(t, err)
		a := get(t, f.urls[fn]+"/?"+ranges[0], otherReadKey)
		assert.JSONEq(t, string(want), string(a.body), fn)
	}
}

// withoutTypes drops type filters, which stats-retention refuses.
func withoutTypes(flt string) string {
	var parts []string
	for _, p := range strings.Split(flt, "&") {
		if p != "" && !strings.HasPrefix(p, "type=") {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "&" + strings.Join(parts, "&")
}

// TestAnswersStayExactAsTheFeedGrows asks the same questions again after
// each part of the feed is stored, the rollups standing still: a process
// extends the tail it resolved for an earlier snapshot with the rows that
// came since (loadTail), and the new rows bring new users, users the
// rollups know, types and, with the older half in the feed, events that
// move cohorts back.
func TestAnswersStayExactAsTheFeedGrows(t *testing.T) {
	t.Parallel()
	for _, inOrder := range []bool{true, false} {
		newFixtureStaged(t, 2000, inOrder, 4, func(f *fixture) {
			for _, z := range []string{"", "&tz=America/New_York"} {
				for _, q := range []string{ranges[0], ranges[1] + "&prop.plan=pro"} {
					f.check(t, "stats-dau", q+z, false, bruteDAU)
					f.check(t, "stats-top", q+z+"&limit=1000", false, bruteTop)
				}
				f.check(t, "stats-dau", ranges[0]+z+"&interval=week&type=page_view", false, bruteDAU)
				f.check(t, "stats-retention", ranges[0]+z, false, bruteRetention)
			}
		})
	}
}

// TestTailMergeStaysExactAsTheRollupsCatchUp asks the same questions again
// after each small materialization step: what a stats process keeps
// between queries (decoded feed rows, answers of rollup_user_days) must
// follow the rollups and the feed as events move from one to the other.
func TestTailMergeStaysExactAsTheRollupsCatchUp(t *testing.T) {
	t.Parallel()
	f := newFixtureOrdered(t, 3000, true)
	m := rollup.NewMaterializer(f.pool, 300)
	steps := 0
	for {
		for _, z := range []string{"", "&tz=Europe/Kyiv"} {
			for _, q := range []string{ranges[0], ranges[1], ranges[0] + "&type=page_view"} {
				f.check(t, "stats-dau", q+z, false, bruteDAU)
				f.check(t, "stats-dau", q+z+"&interval=week", false, bruteDAU)
				f.check(t, "stats-top", q+z+"&limit=1000", false, bruteTop)
			}
			f.check(t, "stats-retention", ranges[0]+z, false, bruteRetention)
			f.check(t, "stats-retention", ranges[0]+z+"&interval=day&periods=3", false, bruteRetention)
		}
		n, err := m.Step(context.Background())
		require.NoError(t, err)
		if n == 0 {
			break
		}
		steps++
	}
	require.Greater(t, steps, 3, "the feed moved in several steps")
	for _, fn := range functionNames {
		assert.Positive(t, f.paths[fn]["rollup+tail"], "%s merged the feed into the rollups: %v", fn, f.paths[fn])
	}
}
