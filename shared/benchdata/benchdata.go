// Package benchdata is the stats benchmark's data set, shared by the
// benchmarks that read it (shared/stats, shared/dashboard): the same
// events, generated the same way, into a database of the run's own or one
// kept between runs.
package benchdata

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// The data: EVENTFN_BENCH_STATS_EVENTS events (default 10M) over Days days
// from Start, Users users (skewed), Types types (skewed), 4 sources,
// properties plan (by user, 3 values), country (by user, 20), n (0-9) and
// path (1000 values), all in project Project.
var Start = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)

// Shape of the data.
const (
	Days    = 60
	Users   = 100_000
	Types   = 50
	Project = "bench"
)

// PropsIndex is the statement that builds, as name, the GIN index on
// events' properties that the schema had until migration 0021: the
// write benchmarks' second baseline, and what plain SQL's property filter
// uses in the stats bench.
func PropsIndex(name string) string {
	return "CREATE INDEX " + name + " ON events USING gin (props jsonb_path_ops)"
}

// EnvInt returns the positive integer in the environment variable name, or def.
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Database returns the URL of the bench database, migrated and loaded:
// EVENTFN_BENCH_STATS_DATABASE_URL keeps the loaded data between runs
// (loaded when its events table is empty); by default a database of the
// run's own is loaded and dropped. The events are EVENTFN_BENCH_STATS_EVENTS
// (default 10M), chunked as EVENTFN_BENCH_STATS_CHUNK says.
func Database(b testing.TB) (string, *pgxpool.Pool) {
	ctx := context.Background()
	url := os.Getenv("EVENTFN_BENCH_STATS_DATABASE_URL")
	if url == "" {
		url = testenv.Database(b)
	}
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: url, DatabaseMaxConns: 4})
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	require.NoError(b, store.Migrate(ctx, pool))
	var loaded bool
	require.NoError(b, pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM events)").Scan(&loaded))
	if !loaded {
		n := EnvInt("EVENTFN_BENCH_STATS_EVENTS", 10_000_000)
		start := time.Now()
		Load(b, pool, n, EnvInt("EVENTFN_BENCH_STATS_CHUNK", rollup.MaxChunk))
		b.Logf("loaded %d events in %s", n, time.Since(start).Round(time.Second))
	}
	return url, pool
}

// Load generates the bench events day by day, in time order, and
// writes them into events (its index dropped during the load, built after)
// and into the rollups with rollup.Loader, then vacuums and analyses.
//
// The columns are chunked as rollup.Compact leaves past days (chunk
// events, default 65536), or as a consumer writes them before compaction
// with EVENTFN_BENCH_STATS_CHUNK=500 (its default batch).
func Load(b testing.TB, pool *pgxpool.Pool, n, chunk int) {
	ctx := context.Background()
	_, err := pool.Exec(ctx, "DROP INDEX events_project_time")
	require.NoError(b, err)
	s := store.New(pool)
	tx, err := pool.Begin(ctx)
	require.NoError(b, err)
	loader := rollup.NewLoader(chunk)
	r := rand.New(rand.NewPCG(1, 2))
	plans := []string{"free", "pro", "team"}
	perDay := n / Days
	id := 0
	for d := range Days {
		day := Start.AddDate(0, 0, d)
		require.NoError(b, s.EnsurePartition(ctx, day))
		count := perDay
		if d == Days-1 {
			count = n - perDay*(Days-1)
		}
		secs := make([]int64, count)
		for i := range secs {
			secs[i] = r.Int64N(int64(24 * time.Hour))
		}
		slices.Sort(secs)
		rows := make([][]any, count)
		evs := make([]rollup.Event, count)
		for i, ns := range secs {
			at := day.Add(time.Duration(ns)).Truncate(time.Microsecond)
			u := int(Users * math.Pow(r.Float64(), 1.5))
			typ := fmt.Sprintf("type_%02d", int(Types*math.Pow(r.Float64(), 2.5)))
			src := fmt.Sprintf("src%d", r.IntN(4))
			props := fmt.Sprintf(`{"plan": %q, "country": "c%d", "n": %d, "path": "/p/%d"}`, plans[u%3], u%20, r.IntN(10), r.IntN(1000))
			var subject *string
			if r.IntN(20) > 0 {
				s := fmt.Sprintf("user-%d", u)
				subject = &s
			}
			id++
			rows[i] = []any{Project, src, strconv.Itoa(id), typ, subject, at, at, "application/json", nil, props, nil, "{}"}
			evs[i] = rollup.Event{Project: Project, Source: src, ID: strconv.Itoa(id), Type: typ, Time: at, Props: []byte(props)}
			if subject != nil {
				evs[i].Subject = *subject
			}
		}
		_, err := pool.CopyFrom(ctx, pgx.Identifier{"events"},
			[]string{"project", "source", "id", "type", "subject", "time", "received_at", "datacontenttype", "dataschema", "props", "data", "extensions"},
			pgx.CopyFromRows(rows))
		require.NoError(b, err)
		// The identities too, as the consumer stores them: a write
		// benchmark on top of this data pays for their index.
		ids := make([][]any, len(rows))
		for i, row := range rows {
			ids[i] = []any{row[0], row[1], row[2], row[5]}
		}
		_, err = pool.CopyFrom(ctx, pgx.Identifier{"event_ids"}, []string{"project", "source", "id", "time"}, pgx.CopyFromRows(ids))
		require.NoError(b, err)
		require.NoError(b, loader.Add(ctx, tx, evs))
	}
	t0 := time.Now()
	require.NoError(b, loader.Finish(ctx, tx))
	require.NoError(b, tx.Commit(ctx))
	b.Logf("rollup build (Loader.Finish, Rebuild UTC): %s", time.Since(t0).Round(time.Second))
	t0 = time.Now()
	_, err = pool.Exec(ctx, `CREATE INDEX events_project_time ON events (project, time)`)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, "VACUUM ANALYZE")
	require.NoError(b, err)
	b.Logf("indexes and VACUUM ANALYZE: %s", time.Since(t0).Round(time.Second))
}

// Tail returns n more events of the data's project on day, drawn as Load
// draws its own, with ids that start with prefix: the events stored and
// not yet in the rollups when the rollups are behind.
func Tail(n int, day time.Time, prefix string) []event.Record {
	r := rand.New(rand.NewPCG(3, 4))
	plans := []string{"free", "pro", "team"}
	recs := make([]event.Record, n)
	for i := range recs {
		at := day.Add(time.Duration(r.Int64N(int64(24 * time.Hour)))).Truncate(time.Microsecond)
		u := int(Users * math.Pow(r.Float64(), 1.5))
		recs[i] = event.Record{
			Project: Project, Source: fmt.Sprintf("src%d", r.IntN(4)), ID: prefix + strconv.Itoa(i),
			Type: fmt.Sprintf("type_%02d", int(Types*math.Pow(r.Float64(), 2.5))), Time: at, ReceivedAt: at,
			DataContentType: "application/json", Extensions: []byte("{}"),
			Props: fmt.Appendf(nil, `{"plan": %q, "country": "c%d", "n": %d, "path": "/p/%d"}`, plans[u%3], u%20, r.IntN(10), r.IntN(1000)),
		}
		if r.IntN(20) > 0 {
			recs[i].Subject = fmt.Sprintf("user-%d", u)
		}
	}
	return recs
}
