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

// TestColumnsFoldTheStoredEventsOncePerStoredRows asks the columns the same
// questions while only the feed grows, then after a materialization step,
// then after a compaction: what a query folded of the stored events (users
// per bucket or type) is kept while the stored rows stay, so the second
// round must build no fold and still count the feed's new events; the
// third, over the same rows and new ones, must extend each kept fold by
// the new rows alone; the fourth, with rows merged away, must extend
// each kept fold by the merged rows (top's giving back the gone rows'
// counts first), and so must the fifth, with new rows and merged rows
// merged again.
// Every answer is checked against the brute force. Not parallel: it
// counts the process's folds.
func TestColumnsFoldTheStoredEventsOncePerStoredRows(t *testing.T) {
	ctx := context.Background()
	url, pool := migratedDatabase(t, 4)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, []string{"UTC"}))
	s := store.New(pool)
	insert := func(list []genEvent) {
		t.Helper()
		for off := 0; off < len(list); off += 500 {
			var batch []*event.Event
			for _, e := range list[off:min(off+500, len(list))] {
				batch = append(batch, e.event())
			}
			_, err := s.InsertEvents(ctx, batch)
			require.NoError(t, err)
		}
	}
	cfg := utcConfig(t, url)
	questions := []struct {
		fn, query string
		brute     func([]genEvent, bfQuery) any
	}{
		{"stats-dau", ranges[0] + "&interval=week", bruteDAU},
		{"stats-top", ranges[0] + "&limit=1000", bruteTop},
		{"stats-retention", ranges[0] + "&interval=day&periods=5", bruteRetention},
	}
	urls := map[string]string{}
	for _, q := range questions {
		urls[q.fn] = serveFunction(t, q.fn, func(deps serve.Deps) (*serve.Function, error) {
			return stats.NewColumnsOnly(ctx, q.fn, cfg, deps)
		})
	}
	ask := func(stored []genEvent, round string) {
		t.Helper()
		for _, q := range questions {
			want, err := json.Marshal(q.brute(stored, parseBF("shop", q.query)))
			require.NoError(t, err)
			a := get(t, urls[q.fn]+"/?"+q.query, readKey)
			require.Equal(t, 200, a.status, "%s", a.body)
			require.JSONEq(t, string(want), string(a.body), "%s ?%s, %s", q.fn, q.query, round)
		}
	}

	evs := generate(11, 3600)
	const third = 1000
	insert(evs[:third])
	rolluptest.Materialize(t, pool)
	insert(evs[third : 2*third])
	made, extended := stats.FoldsMade()
	ask(evs[:2*third], "a tail on stored rows")
	made += len(questions)
	assertFolds := func(round string) {
		t.Helper()
		gotMade, gotExtended := stats.FoldsMade()
		require.Equal(t, [2]int{made, extended}, [2]int{gotMade, gotExtended}, "folds made and extended after %s", round)
	}
	assertFolds("each question folded the stored rows")

	insert(evs[2*third : 3*third])
	ask(evs[:3*third], "the tail grown, the stored rows the same")
	assertFolds("the stored rows' folds were kept")

	rolluptest.Materialize(t, pool)
	ask(evs[:3*third], "every event stored")
	extended += len(questions)
	assertFolds("each kept fold took in the new rows")

	merged, err := rollup.Compact(ctx, pool, rollup.DayOf(time.Now(), time.UTC)+400)
	require.NoError(t, err)
	require.Positive(t, merged, "the test needs days of several chunks")
	ask(evs[:3000], "the rows compacted")
	extended += len(questions)
	assertFolds("rows the folds covered were merged")

	// New rows and a second compaction, which merges merged chunks again.
	insert(evs[3000:])
	rolluptest.Materialize(t, pool)
	merged, err = rollup.Compact(ctx, pool, rollup.DayOf(time.Now(), time.UTC)+400)
	require.NoError(t, err)
	require.Positive(t, merged)
	ask(evs, "new rows, and merged ones merged again")
	extended += len(questions)
	assertFolds("new rows, and rows merged twice")
}

// TestAKeptFoldAnswersAShortTail asks questions the rollups could answer
// while the tail is too long to merge (the columns answer and keep a
// fold), then after the rollups caught up and a short tail came: a
// question whose fold is kept is answered from the columns (extending the
// fold costs less than probing the tail's users), another one by the
// rollups and the merge; every answer exact. Not parallel: it changes the
// probe limit and counts the process's folds.
func TestAKeptFoldAnswersAShortTail(t *testing.T) {
	ctx := context.Background()
	url, pool := migratedDatabase(t, 4)
	require.NoError(t, rollup.EnsureTimezones(ctx, pool, []string{"UTC"}))
	t.Cleanup(stats.SetProbeLimit(100))
	s := store.New(pool)
	insert := func(list []genEvent) {
		t.Helper()
		var batch []*event.Event
		for _, e := range list {
			batch = append(batch, e.event())
		}
		_, err := s.InsertEvents(ctx, batch)
		require.NoError(t, err)
	}
	cfg := utcConfig(t, url)
	// Each question, and another one of the same function.
	questions := []struct {
		fn, query, other string
		brute            func([]genEvent, bfQuery) any
	}{
		{"stats-dau", ranges[0], ranges[0] + "&interval=week", bruteDAU},
		{"stats-top", ranges[0] + "&limit=1000", "from=2026-09-21&to=2026-11-18&limit=1000", bruteTop},
		{"stats-retention", ranges[0] + "&interval=week&periods=4", ranges[0] + "&interval=day&periods=3", bruteRetention},
	}
	urls := serveStats(t, cfg)
	ask := func(fn, query string, brute func([]genEvent, bfQuery) any, stored []genEvent, wantPath string) {
		t.Helper()
		want, err := json.Marshal(brute(stored, parseBF("shop", query)))
		require.NoError(t, err)
		a := get(t, urls[fn]+"/?"+query, readKey)
		require.Equal(t, 200, a.status, "%s", a.body)
		require.JSONEq(t, string(want), string(a.body), "%s ?%s", fn, query)
		require.Equal(t, wantPath, a.header.Get("X-Stats-Path"), "%s ?%s", fn, query)
	}

	evs := generate(12, 1200)[:1150]
	insert(evs[:800])
	rolluptest.Materialize(t, pool)
	insert(evs[800:1100]) // shop's share of 300 events is past the limit
	for _, q := range questions {
		ask(q.fn, q.query, q.brute, evs[:1100], "columns")
	}
	rolluptest.Materialize(t, pool)
	// A short tail, on the data's last day: after every stored event, so
	// that no cohort moves (which the merge leaves to the columns).
	last := dataStart.AddDate(0, 0, dataDays-1).Add(12 * time.Hour)
	for i := range evs[1100:] {
		evs[1100+i].t = last.Add(time.Duration(i) * time.Minute)
	}
	insert(evs[1100:])
	made, extended := stats.FoldsMade()
	for _, q := range questions {
		ask(q.fn, q.query, q.brute, evs, "columns")
		ask(q.fn, q.other, q.brute, evs, "rollup+tail")
	}
	gotMade, gotExtended := stats.FoldsMade()
	require.Equal(t, [2]int{made, extended + len(questions)}, [2]int{gotMade, gotExtended},
		"the kept folds took in the new rows; the other questions folded nothing")
}
