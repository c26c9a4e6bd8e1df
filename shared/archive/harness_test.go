package archive

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// harness is one test's database, archive directory and Archiver, with a
// fixed clock so that the cutoff does not move during the test.
type harness struct {
	dbURL  string
	pool   *pgxpool.Pool
	store  *store.Store
	root   string
	arch   *Archiver
	cutoff time.Time
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	ctx := context.Background()
	dbURL := testenv.Database(tb)
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: dbURL, DatabaseMaxConns: 6})
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	require.NoError(tb, store.Migrate(ctx, pool))
	root := tb.TempDir()
	storage, err := OpenStorage("file://"+root, S3Options{})
	require.NoError(tb, err)
	arch := NewArchiver(pool, storage, 30, slog.New(slog.DiscardHandler))
	now := time.Now().UTC()
	arch.now = func() time.Time { return now }
	return &harness{dbURL: dbURL, pool: pool, store: store.New(pool), root: root, arch: arch, cutoff: arch.Cutoff()}
}

// newEvent is an event of project at the given time; data is JSON props
// when it starts with '{', text otherwise, none when empty.
func newEvent(tb testing.TB, project, id string, at time.Time, subject, data string) *event.Event {
	tb.Helper()
	ce := cloudevents.New()
	ce.SetID(id)
	ce.SetSource("test")
	ce.SetType("page_view")
	ce.SetSubject(subject)
	ce.SetTime(at)
	switch {
	case strings.HasPrefix(data, "{"):
		require.NoError(tb, ce.SetData(cloudevents.ApplicationJSON, []byte(data)))
	case data != "":
		require.NoError(tb, ce.SetData("text/plain", []byte(data)))
	}
	return &event.Event{Project: project, CE: ce, ReceivedAt: time.Now()}
}

func (h *harness) insert(tb testing.TB, evs ...*event.Event) store.InsertResult {
	tb.Helper()
	res, err := h.store.InsertEvents(context.Background(), evs)
	require.NoError(tb, err)
	return res
}

func (h *harness) count(tb testing.TB, sql string, args ...any) int {
	tb.Helper()
	var n int
	require.NoError(tb, h.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// key is an event's identity.
type key struct{ project, source, id string }

// hotRows returns the events table's rows by identity.
func (h *harness) hotRows(tb testing.TB) map[key]Row {
	tb.Helper()
	out := map[key]Row{}
	rows, err := h.pool.Query(context.Background(), "SELECT "+selectColumns+" FROM events")
	require.NoError(tb, err)
	defer rows.Close()
	for rows.Next() {
		r, err := scanRow(rows)
		require.NoError(tb, err)
		out[key{r.Project, r.Source, r.ID}] = r
	}
	require.NoError(tb, rows.Err())
	return out
}

// archivedRows reads every Parquet file under the root and returns each
// row with how many times it occurs, and the files (relative paths).
func (h *harness) archivedRows(tb testing.TB) (map[key]Row, map[key]int, []string) {
	tb.Helper()
	rows, counts := map[key]Row{}, map[key]int{}
	var files []string
	err := filepath.WalkDir(h.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return err
		}
		rel, _ := filepath.Rel(h.root, p)
		files = append(files, filepath.ToSlash(rel))
		f, err := os.Open(p)
		require.NoError(tb, err)
		defer f.Close()
		st, err := f.Stat()
		require.NoError(tb, err)
		got, err := ReadRows(f, st.Size())
		require.NoError(tb, err)
		for _, r := range got {
			r.Time, r.ReceivedAt = r.Time.UTC(), r.ReceivedAt.UTC()
			k := key{r.Project, r.Source, r.ID}
			rows[k] = r
			counts[k]++
		}
		return nil
	})
	require.NoError(tb, err)
	return rows, counts, files
}

// rollupSnapshot is an md5 of the sorted rows of every rollup_ table: what
// the stats functions answer from.
func (h *harness) rollupSnapshot(tb testing.TB) map[string]string {
	tb.Helper()
	ctx := context.Background()
	rows, err := h.pool.Query(ctx, `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename)
		FROM pg_tables WHERE tablename LIKE 'rollup\_%' ORDER BY 1`)
	require.NoError(tb, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(tb, err)
	require.NotEmpty(tb, tables)
	out := map[string]string{}
	for _, t := range tables {
		var sum string
		require.NoError(tb, h.pool.QueryRow(ctx,
			"SELECT coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text)), '') || ':' || count(*) FROM "+t+" r").Scan(&sum))
		out[t] = sum
	}
	return out
}
