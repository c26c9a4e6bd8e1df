package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// harness is one test's database, archive location and Archiver, with a
// fixed clock so that the cutoff does not move during the test.
type harness struct {
	dbURL  string
	pool   *pgxpool.Pool
	store  *store.Store
	loc    location
	arch   *Archiver
	cutoff time.Time
}

func newHarness(tb testing.TB, b backend) *harness {
	tb.Helper()
	ctx := context.Background()
	loc := b.open(tb)
	dbURL := testenv.Database(tb)
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: dbURL, DatabaseMaxConns: 6})
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	require.NoError(tb, store.Migrate(ctx, pool))
	arch := NewArchiver(pool, loc.Storage, 30, slog.New(slog.DiscardHandler))
	now := time.Now().UTC()
	arch.now = func() time.Time { return now }
	return &harness{dbURL: dbURL, pool: pool, store: store.New(pool), loc: loc, arch: arch, cutoff: arch.Cutoff()}
}

// location is an empty archive location of one test's own: its Storage
// and the settings that name it.
type location struct {
	Storage
	url string
	s3  S3Options
}

// backend is a kind of Storage that the behavioural tests run on.
type backend struct {
	name string
	// open returns a new, empty location (or skips the test).
	open func(tb testing.TB) location
	// unwritable returns a location whose Check must fail.
	unwritable func(tb testing.TB) location
}

// backends are every Storage: a directory, an in-process fake S3 and, when
// EVENTFN_TEST_S3_URL names one, a real S3 service. Behavioural tests run
// on each as a subtest named after it.
var backends = []backend{fileBackend, fakeS3Backend, realS3Backend}

var fileBackend = backend{
	name: "file",
	open: func(tb testing.TB) location {
		return openLocation(tb, "file://"+tb.TempDir(), S3Options{})
	},
	unwritable: func(tb testing.TB) location {
		return openLocation(tb, "file:///proc/eventfn-archive", S3Options{})
	},
}

// fakeS3Bucket is the bucket of the fake S3 server.
const fakeS3Bucket = "eventfn-test"

var fakeS3Backend = backend{
	name: "s3",
	open: func(tb testing.TB) location {
		opts := S3Options{Endpoint: startFakeS3(tb), Credentials: fakeS3Credentials}
		return openLocation(tb, "s3://"+fakeS3Bucket+"/archive/"+randomHex(), opts)
	},
	unwritable: func(tb testing.TB) location {
		opts := S3Options{Endpoint: startFakeS3(tb), Credentials: fakeS3Credentials}
		return openLocation(tb, "s3://no-such-bucket/archive", opts)
	},
}

// startFakeS3 serves an in-memory S3 (gofakes3) with fakeS3Bucket on
// 127.0.0.1 for the test, and stops it when the test ends; it returns the
// endpoint URL.
func startFakeS3(tb testing.TB) string {
	tb.Helper()
	mem := s3mem.New()
	require.NoError(tb, mem.CreateBucket(fakeS3Bucket))
	srv := httptest.NewServer(decodeChunkedParts(gofakes3.New(mem).Server()))
	tb.Cleanup(srv.Close)
	// gofakes3 v1.2.0 answers NoSuchUpload, not an empty list, when asked
	// for the uploads of a bucket that never had one; S3 and MinIO list
	// none. One upload, aborted, makes it answer as they do.
	client, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{Creds: fakeS3Credentials})
	require.NoError(tb, err)
	core := minio.Core{Client: client}
	ctx := context.Background()
	id, err := core.NewMultipartUpload(ctx, fakeS3Bucket, "prime", minio.PutObjectOptions{})
	require.NoError(tb, err)
	require.NoError(tb, core.AbortMultipartUpload(ctx, fakeS3Bucket, "prime", id))
	return srv.URL
}

// streamingPayload is the X-Amz-Content-Sha256 of a body in signed
// aws-chunked encoding, which the client sends over plain HTTP.
const streamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

// decodeChunkedParts decodes the aws-chunked body of a multipart part
// upload before gofakes3 sees it: gofakes3 v1.2.0 decodes it for a single
// PUT only and would store a part's chunk headers as data. S3 and MinIO
// decode both.
func decodeChunkedParts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Has("uploadId") && r.Header.Get("X-Amz-Content-Sha256") == streamingPayload {
			body, err := io.ReadAll(r.Body)
			if err == nil {
				body, err = decodeAWSChunked(body)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.Header.Set("Content-Length", strconv.Itoa(len(body)))
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		}
		next.ServeHTTP(w, r)
	})
}

// decodeAWSChunked returns the data of "<hex size>;chunk-signature=...\r\n
// <data>\r\n" chunks up to the empty one.
func decodeAWSChunked(b []byte) ([]byte, error) {
	var out []byte
	for {
		header, rest, ok := bytes.Cut(b, []byte("\r\n"))
		if !ok {
			return nil, errors.New("aws-chunked: no chunk header")
		}
		sizeHex, _, _ := bytes.Cut(header, []byte(";"))
		n, err := strconv.ParseInt(string(sizeHex), 16, 64)
		if err != nil || n < 0 || int64(len(rest)) < n+2 {
			return nil, fmt.Errorf("aws-chunked: bad chunk header %q", header)
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, rest[:n]...)
		b = rest[n+2:]
	}
}

// realS3Backend is the S3 service named by EVENTFN_TEST_S3_URL
// (s3://bucket/prefix; the bucket must exist), EVENTFN_TEST_S3_ENDPOINT
// and EVENTFN_TEST_S3_REGION (as ARCHIVE_S3_*), with credentials from the
// standard chain (AWS_ACCESS_KEY_ID, ...). Each test writes under a
// prefix of its own below the given one and removes it at the end.
var realS3Backend = backend{
	name: "real-s3",
	open: func(tb testing.TB) location {
		raw, opts := realS3(tb)
		loc := openLocation(tb, strings.TrimRight(raw, "/")+"/"+randomHex(), opts)
		tb.Cleanup(func() { emptyS3(tb, loc.Storage.(*s3Storage)) })
		return loc
	},
	unwritable: func(tb testing.TB) location {
		_, opts := realS3(tb)
		return openLocation(tb, "s3://eventfn-no-such-bucket-"+randomHex()+"/archive", opts)
	},
}

func realS3(tb testing.TB) (string, S3Options) {
	raw := os.Getenv("EVENTFN_TEST_S3_URL")
	if raw == "" {
		tb.Skip("EVENTFN_TEST_S3_URL is not set: no real S3 to test against")
	}
	return raw, S3Options{Endpoint: os.Getenv("EVENTFN_TEST_S3_ENDPOINT"), Region: os.Getenv("EVENTFN_TEST_S3_REGION")}
}

func openLocation(tb testing.TB, raw string, opts S3Options) location {
	tb.Helper()
	st, err := OpenStorage(raw, opts)
	require.NoError(tb, err)
	return location{Storage: st, url: raw, s3: opts}
}

// emptyS3 removes every object and unfinished upload under s's prefix.
func emptyS3(tb testing.TB, s *s3Storage) {
	ctx := context.Background()
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.root(), Recursive: true}) {
		if obj.Err != nil {
			tb.Errorf("clean up %s: %v", s.URL(""), obj.Err)
			return
		}
		assert.NoError(tb, s.client.RemoveObject(ctx, s.bucket, obj.Key, minio.RemoveObjectOptions{}))
	}
	for up := range s.client.ListIncompleteUploads(ctx, s.bucket, s.root(), true) {
		if up.Err != nil {
			tb.Errorf("clean up %s: %v", s.URL(""), up.Err)
			return
		}
		assert.NoError(tb, minio.Core{Client: s.client}.AbortMultipartUpload(ctx, s.bucket, up.Key, up.UploadID))
	}
}

// forEachBackend runs test as a parallel subtest per backend.
func forEachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, b)
		})
	}
}

// names lists the location (List), sorted.
func (l location) names(tb testing.TB) []string {
	tb.Helper()
	names, err := l.List(context.Background())
	require.NoError(tb, err)
	slices.Sort(names)
	return names
}

// exists reports whether List shows name.
func (l location) exists(tb testing.TB, name string) bool {
	tb.Helper()
	return slices.Contains(l.names(tb), name)
}

// read returns the content of name.
func (l location) read(tb testing.TB, name string) []byte {
	tb.Helper()
	r, size, c, err := l.Open(context.Background(), name)
	require.NoError(tb, err)
	defer c.Close()
	b, err := io.ReadAll(io.NewSectionReader(r, 0, size))
	require.NoError(tb, err)
	return b
}

// put stores content under name.
func (l location) put(tb testing.TB, name string, content []byte) {
	tb.Helper()
	_, err := l.Put(context.Background(), name, func(w io.Writer) error {
		_, err := w.Write(content)
		return err
	})
	require.NoError(tb, err)
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

// archivedRows reads every Parquet file of the location (through Storage)
// and returns each row with how many times it occurs, and the files.
func (h *harness) archivedRows(tb testing.TB) (map[key]Row, map[key]int, []string) {
	tb.Helper()
	rows, counts := map[key]Row{}, map[key]int{}
	var files []string
	for _, name := range h.loc.names(tb) {
		if !strings.HasSuffix(name, ".parquet") {
			continue
		}
		files = append(files, name)
		r, size, c, err := h.loc.Open(context.Background(), name)
		require.NoError(tb, err)
		got, err := ReadRows(r, size)
		require.NoError(tb, err)
		require.NoError(tb, c.Close())
		for _, r := range got {
			r.Time, r.ReceivedAt = r.Time.UTC(), r.ReceivedAt.UTC()
			k := key{r.Project, r.Source, r.ID}
			rows[k] = r
			counts[k]++
		}
	}
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
