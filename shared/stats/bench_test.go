package stats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/benchdata"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/stats"
	"github.com/eventfn/eventfn/shared/store"
)

// The bench data (package benchdata): EVENTFN_BENCH_STATS_EVENTS events
// (default 10M) over 60 days, 100k users, 50 types.
var benchStart = benchdata.Start

const (
	benchDays  = benchdata.Days
	benchUsers = benchdata.Users
	benchTypes = benchdata.Types
)

// BenchmarkStats loads the bench data into a database of its own, then
// measures p50/p95 of each function over 30-day ranges (retention: 12
// weeks), unfiltered and with one property filter, beside plain SQL over
// the events table measured in the same run. It runs only with -bench
// (scripts/bench stats): the load takes minutes.
//
// The load (benchdata.Load) bypasses the consumer: events are COPYed into
// the events table (indexes built afterwards) and into the rollups with
// rollup.Loader, whose calendar tables come from rollup.Rebuild; the
// tests hold Rebuild equal to the consumer's incremental rollup.Apply.
func BenchmarkStats(b *testing.B) {
	ctx := context.Background()
	n := benchdata.EnvInt("EVENTFN_BENCH_STATS_EVENTS", 10_000_000)
	iters := benchdata.EnvInt("EVENTFN_BENCH_STATS_ITERATIONS", 40)
	sqlIters := benchdata.EnvInt("EVENTFN_BENCH_STATS_SQL_ITERATIONS", 5)
	url, pool := benchdata.Database(b)
	printSizes(b, pool)

	cfg := utcConfig(b, url)
	cfg.Postgres.DatabaseMaxConns = 4
	cfg.Auth.APIKeys = readKey + "=bench:read"
	cfg.QueryTimeout = 5 * time.Minute
	urls := serveStats(b, cfg)
	sqlConn, err := pgx.Connect(ctx, url)
	require.NoError(b, err)
	b.Cleanup(func() { _ = sqlConn.Close(ctx) })
	_, err = sqlConn.Exec(ctx, "SET jit = off")
	require.NoError(b, err)
	// Plain SQL gets the index a user would build for its property
	// filter. eventfn's schema has none (nothing of it reads events by
	// property), and the write benchmarks that run on this database after
	// must not pay for one: it goes when the benchmark ends.
	t0 := time.Now()
	_, err = sqlConn.Exec(ctx, benchdata.PropsIndex("IF NOT EXISTS bench_events_props"))
	require.NoError(b, err)
	b.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP INDEX IF EXISTS bench_events_props") })
	b.Logf("property index for plain SQL: %s", time.Since(t0).Round(time.Second))

	r := rand.New(rand.NewPCG(9, 9))
	ranges := make([][2]string, max(iters, sqlIters))
	weeks := make([][2]string, len(ranges))
	for i := range ranges {
		from := benchStart.AddDate(0, 0, r.IntN(benchDays-29))
		ranges[i] = [2]string{from.Format(time.DateOnly), from.AddDate(0, 0, 29).Format(time.DateOnly)}
		// 12 weeks from a Monday up to 5 weeks before the data.
		monday := benchStart.AddDate(0, 0, -(int(benchStart.Weekday())+6)%7-7*r.IntN(6))
		weeks[i] = [2]string{monday.Format(time.DateOnly), monday.AddDate(0, 0, 83).Format(time.DateOnly)}
	}

	type variant struct{ name, metric, query, sql string }
	variants := []variant{
		{"unfiltered", "unfiltered", "", ""},
		{"prop.plan=pro (1/3 of events)", "plan", "&prop.plan=pro", `{"plan":"pro"}`},
		{"prop.country=c7 (1/20)", "country", "&prop.country=c7", `{"country":"c7"}`},
	}
	b.ResetTimer()
	fmt.Printf("\nstats over %d events, %d users, %d types, %d days; p50/p95 of %d queries (plain SQL: %d)\n",
		n, benchUsers, benchTypes, benchDays, iters, sqlIters)
	for _, fn := range functionNames {
		for _, v := range variants {
			var got []time.Duration
			var paths []string
			for i := range iters {
				q := queryOf(fn, ranges[i], weeks[i]) + v.query
				t0 := time.Now()
				a := get(b, urls[fn]+"/?"+q, readKey)
				got = append(got, time.Since(t0))
				require.Equal(b, http.StatusOK, a.status, "%s", a.body)
				paths = append(paths, a.header.Get("X-Stats-Path"))
			}
			var base []time.Duration
			for i := range sqlIters {
				t0 := time.Now()
				want := plainSQL(b, sqlConn, fn, ranges[i], weeks[i], v.sql)
				base = append(base, time.Since(t0))
				if i == 0 {
					a := get(b, urls[fn]+"/?"+queryOf(fn, ranges[i], weeks[i])+v.query, readKey)
					require.JSONEq(b, want, normalise(b, fn, a.body), "%s %s: the function and plain SQL disagree", fn, v.name)
				}
			}
			p50, p95 := percentile(got, 50), percentile(got, 95)
			s50, s95 := percentile(base, 50), percentile(base, 95)
			fmt.Printf("STATS %-16s %-30s path=%-7s p50 %8.1f ms  p95 %8.1f ms | plain SQL p50 %8.1f ms p95 %8.1f ms | %6.0fx faster (p95)\n",
				fn, v.name, paths[0], ms(p50), ms(p95), ms(s50), ms(s95), ms(s95)/ms(p95))
			b.ReportMetric(ms(p95), fmt.Sprintf("%s/%s/p95_ms", fn, v.metric))
		}
	}

	// The same questions while the rollups are behind: events stored (in
	// the rollup feed) and not materialized, on the data's last day, which
	// every range below ends with. One consumer batch (10,000 events)
	// behind, then EVENTFN_BENCH_STATS_TAIL events (default 2.4M: one
	// minute of ingest at 40k events/s).
	last := benchStart.AddDate(0, 0, benchDays-1)
	tailDays := [2]string{last.AddDate(0, 0, -29).Format(time.DateOnly), last.Format(time.DateOnly)}
	lastMonday := last.AddDate(0, 0, -(int(last.Weekday())+6)%7)
	tailWeeks := [2]string{lastMonday.AddDate(0, 0, -77).Format(time.DateOnly), last.Format(time.DateOnly)}
	s := store.New(pool)
	stored := 0
	// A tail of at most one batch is measured once, at its size.
	tailSize := benchdata.EnvInt("EVENTFN_BENCH_STATS_TAIL", 2_400_000)
	sizes := []int{min(10_000, tailSize)}
	if tailSize > sizes[0] {
		sizes = append(sizes, tailSize)
	}
	for _, size := range sizes {
		b.StopTimer()
		recs := benchdata.Tail(size-stored, last, fmt.Sprintf("tail%d-", size))
		for off := 0; off < len(recs); off += 10_000 {
			_, err := s.InsertRecords(ctx, recs[off:min(off+10_000, len(recs))])
			require.NoError(b, err)
		}
		stored = size
		b.StartTimer()
		fmt.Printf("\nthe same, %d events behind the rollups (in the feed), ranges ending with their day\n", size)
		for _, fn := range functionNames {
			for _, v := range variants {
				var got []time.Duration
				paths := map[string]int{}
				for range min(iters, 20) {
					t0 := time.Now()
					a := get(b, urls[fn]+"/?"+queryOf(fn, tailDays, tailWeeks)+v.query, readKey)
					got = append(got, time.Since(t0))
					require.Equal(b, http.StatusOK, a.status, "%s", a.body)
					paths[a.header.Get("X-Stats-Path")]++
				}
				// The first query decodes the tail and asks PostgreSQL about
				// each of its users; the rest find much of that kept
				// (feedcache.go, probecache.go), as a dashboard's
				// repeated questions do while the rollups stand still.
				fmt.Printf("STATS %-16s %-30s behind=%-8d first %8.1f ms  p50 %8.1f ms  p95 %8.1f ms  paths %v\n",
					fn, v.name, size, ms(got[0]), ms(percentile(got, 50)), ms(percentile(got, 95)), paths)
				b.ReportMetric(ms(percentile(got, 95)), fmt.Sprintf("%s/%s/behind_%d/p95_ms", fn, v.metric, size))
			}
		}
	}
	afterSteps(b, pool, s, urls, last, tailDays, tailWeeks)
	// What this run added goes, so that a kept database stays the data set.
	_, err = pool.Exec(ctx, `DELETE FROM rollup_feed; DELETE FROM events WHERE id LIKE 'tail%'; DELETE FROM event_ids WHERE id LIKE 'tail%'`)
	require.NoError(b, err)
}

// afterSteps materializes the feed a step at a time and, after each, asks
// every function its unfiltered question once over the tail's ranges: the
// first query over new stored rows, which is every query under a steady
// load (a step every few seconds); then, over a tail, after a compaction
// of small chunks. Only on a database of the run's own: steps write the rollups,
// which a kept database must not keep.
func afterSteps(b *testing.B, pool *pgxpool.Pool, s *store.Store, urls map[string]string, last time.Time, days, weeks [2]string) {
	if os.Getenv("EVENTFN_BENCH_STATS_DATABASE_URL") != "" {
		fmt.Println("\n(no materialization steps on a kept database: they would change its rollups)")
		return
	}
	ctx := context.Background()
	m := rollup.NewMaterializer(pool, 0)
	got := map[string][]time.Duration{}
	paths := map[string]map[string]int{}
	askAll := func(into map[string][]time.Duration) {
		for _, fn := range functionNames {
			t0 := time.Now()
			a := get(b, urls[fn]+"/?"+queryOf(fn, days, weeks), readKey)
			into[fn] = append(into[fn], time.Since(t0))
			require.Equal(b, http.StatusOK, a.status, "%s", a.body)
			if paths[fn] == nil {
				paths[fn] = map[string]int{}
			}
			paths[fn][a.header.Get("X-Stats-Path")]++
		}
	}
	steps := 0
	for {
		n, err := m.Step(ctx)
		require.NoError(b, err)
		if n == 0 {
			break
		}
		steps++
		askAll(got)
	}
	fmt.Printf("\nthe first unfiltered query after each of %d materialization steps (up to %d events each)\n", steps, rollup.DefaultChunk)
	report := func(label, metric string, got map[string][]time.Duration) {
		for _, fn := range functionNames {
			if len(got[fn]) == 0 {
				continue
			}
			each := ""
			for _, d := range got[fn] {
				each += fmt.Sprintf(" %.0f", ms(d))
			}
			fmt.Printf("STATS %-16s %-16s p50 %8.1f ms  max %8.1f ms  paths %v  each (ms):%s\n",
				fn, label, ms(percentile(got[fn], 50)), ms(slices.Max(got[fn])), paths[fn], each)
			b.ReportMetric(ms(percentile(got[fn], 50)), fn+"/"+metric+"/p50_ms")
		}
	}
	report("after a step", "after_step", got)

	// Small steps of late events on the last day, then a tail past the
	// merge's limit (the columns answer, and their folds take in the
	// small chunks), then a compaction that merges those chunks: the
	// first query after it, which consume-batch's compaction (each
	// minute) brings while the rollups are behind.
	for i := range 3 {
		_, err := s.InsertRecords(ctx, benchdata.Tail(2_000, last, fmt.Sprintf("tail-late%d-", i)))
		require.NoError(b, err)
		_, err = m.Step(ctx)
		require.NoError(b, err)
	}
	standing := benchdata.Tail(60_000, last, "tail-standing-")
	for off := 0; off < len(standing); off += 10_000 {
		_, err := s.InsertRecords(ctx, standing[off:off+10_000])
		require.NoError(b, err)
	}
	askAll(map[string][]time.Duration{})
	askAll(map[string][]time.Duration{})
	merged, err := rollup.Compact(ctx, pool, rollup.DayOf(last, time.UTC)+1)
	require.NoError(b, err)
	fmt.Printf("\nthe first unfiltered query after a compaction that merged %d chunks\n", merged)
	compacted := map[string][]time.Duration{}
	for k := range paths {
		delete(paths, k)
	}
	askAll(compacted)
	report("after compaction", "after_compaction", compacted)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(float64(p)/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func queryOf(fn string, days, weeks [2]string) string {
	switch fn {
	case "stats-retention":
		return "from=" + weeks[0] + "&to=" + weeks[1] + "&interval=week&periods=12"
	case "stats-top":
		return "from=" + days[0] + "&to=" + days[1] + "&limit=10"
	}
	return "from=" + days[0] + "&to=" + days[1]
}

// plainSQL answers the same question straight from the events table (a
// GIN index serves the property filter) and returns it in a normal form
// that normalise also gives the function's answer.
func plainSQL(b *testing.B, conn *pgx.Conn, fn string, days, weeks [2]string, contains string) string {
	ctx := context.Background()
	filter := ""
	args := []any{}
	if contains != "" {
		filter = " AND props @> $3::jsonb"
		args = append(args, contains)
	}
	var sql string
	switch fn {
	case "stats-dau":
		args = append([]any{days[0], days[1]}, args...)
		sql = `SELECT jsonb_object_agg(d, n)::text FROM (
			SELECT (time AT TIME ZONE 'UTC')::date AS d, count(DISTINCT subject) AS n FROM events
			WHERE project = 'bench' AND time >= $1::date AT TIME ZONE 'UTC' AND time < ($2::date + 1) AT TIME ZONE 'UTC'` + filter + `
			GROUP BY 1) x`
	case "stats-top":
		args = append([]any{days[0], days[1]}, args...)
		sql = `SELECT jsonb_agg(jsonb_build_array(type, c, u) ORDER BY c DESC, type COLLATE "C")::text FROM (
			SELECT type, count(*) AS c, count(DISTINCT subject) AS u FROM events
			WHERE project = 'bench' AND time >= $1::date AT TIME ZONE 'UTC' AND time < ($2::date + 1) AT TIME ZONE 'UTC'` + filter + `
			GROUP BY type ORDER BY 2 DESC, type COLLATE "C" LIMIT 10) x`
	default:
		args = append([]any{weeks[0], weeks[1]}, args...)
		sql = `WITH firsts AS (
			SELECT subject, min(time) AS f FROM events
			WHERE project = 'bench' AND subject IS NOT NULL` + filter + ` GROUP BY subject
		), act AS (
			SELECT DISTINCT subject, date_trunc('week', time AT TIME ZONE 'UTC')::date AS w FROM events
			WHERE project = 'bench' AND subject IS NOT NULL AND time >= $1::date AT TIME ZONE 'UTC'
			  AND time < ($2::date + 1) AT TIME ZONE 'UTC'` + filter + `
		)
		SELECT jsonb_object_agg(c || '+' || k, n)::text FROM (
			SELECT date_trunc('week', f AT TIME ZONE 'UTC')::date AS c, (a.w - date_trunc('week', f AT TIME ZONE 'UTC')::date) / 7 AS k, count(*) AS n
			FROM firsts JOIN act a USING (subject)
			WHERE f >= $1::date AT TIME ZONE 'UTC' AND f < ($2::date + 1) AT TIME ZONE 'UTC'
			  AND a.w >= date_trunc('week', f AT TIME ZONE 'UTC')::date AND a.w < date_trunc('week', f AT TIME ZONE 'UTC')::date + 84
			GROUP BY 1, 2) x`
	}
	if contains == "" {
		// Without a filter the third parameter does not exist.
		args = args[:2]
	}
	var out *string
	require.NoError(b, conn.QueryRow(ctx, sql, args...).Scan(&out))
	if out == nil {
		return "null"
	}
	return *out
}

// normalise turns a function's answer into plainSQL's form.
func normalise(b *testing.B, fn string, body []byte) string {
	var out any
	switch fn {
	case "stats-dau":
		var r stats.DAUResult
		require.NoError(b, json.Unmarshal(body, &r))
		m := map[string]int64{}
		for _, p := range r.Series {
			if p.ActiveUsers > 0 {
				m[p.Start] = p.ActiveUsers
			}
		}
		out = m
	case "stats-top":
		var r stats.TopResult
		require.NoError(b, json.Unmarshal(body, &r))
		var l [][]any
		for _, e := range r.Events {
			l = append(l, []any{e.Type, e.Count, e.Users})
		}
		out = l
	default:
		var r stats.RetentionResult
		require.NoError(b, json.Unmarshal(body, &r))
		m := map[string]int64{}
		for _, c := range r.Cohorts {
			for k, n := range c.Retained {
				if n > 0 {
					m[fmt.Sprintf("%s+%d", c.Start, k)] = n
				}
			}
		}
		out = m
	}
	j, err := json.Marshal(out)
	require.NoError(b, err)
	return string(j)
}

func printSizes(b *testing.B, pool *pgxpool.Pool) {
	rows, err := pool.Query(context.Background(), `
		SELECT coalesce(p.relname, c.relname), pg_size_pretty(sum(pg_total_relation_size(c.oid)))
		FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
		LEFT JOIN pg_class p ON p.oid = i.inhparent
		WHERE c.relkind = 'r' AND coalesce(p.relname, c.relname) IN
		  ('events', 'rollup_cols', 'rollup_user_days', 'rollup_type_prevs', 'rollup_active', 'rollup_retention', 'rollup_users')
		GROUP BY 1 ORDER BY 1`)
	require.NoError(b, err)
	sizes := map[string]string{}
	var name, size string
	_, err = pgx.ForEachRow(rows, []any{&name, &size}, func() error { sizes[name] = size; return nil })
	require.NoError(b, err)
	b.Logf("sizes: %v", sizes)
}
