package archive

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/openapitest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/testenv"
)

// bootFunction builds the real function on h's database and archive root
// with cfg changes, and serves it as the platforms do.
func bootFunction(t *testing.T, h *harness, mutate func(*Config)) (*serve.Function, *httptest.Server, *prometheus.Registry) {
	t.Helper()
	var cfg Config
	require.NoError(t, config.Load(&cfg))
	cfg.Postgres = config.Postgres{DatabaseURL: h.dbURL, DatabaseMaxConns: 3}
	cfg.ArchiveURL = h.loc.url
	cfg.ArchiveS3Endpoint = h.loc.s3.Endpoint
	cfg.ArchiveS3Region = cmp.Or(h.loc.s3.Region, cfg.ArchiveS3Region)
	cfg.AdminKey = "admin-secret"
	if mutate != nil {
		mutate(&cfg)
	}
	require.NoError(t, cfg.Validate())
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	fn, err := New(context.Background(), cfg, serve.Deps{Logger: log, Registerer: reg})
	require.NoError(t, err)
	t.Cleanup(fn.Close)
	srv := httptest.NewServer(serve.NewServer(fn, log, reg, reg))
	t.Cleanup(srv.Close)
	openapitest.Register(t, srv.URL)
	return fn, srv, reg
}

func post(t *testing.T, url, auth, contentType, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := openapitest.ClientFor(t, url).Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestHTTPArchiveAnswerAndAdminKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fileBackend)
	old := time.Now().UTC().AddDate(0, 0, -40)
	h.insert(t, newEvent(t, "p", "o1", old, "u1", `{"a":1}`), newEvent(t, "p", "n1", time.Now(), "u1", ""))
	_, srv, reg := bootFunction(t, h, nil)

	resp := post(t, srv.URL+"/", "", "", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp = post(t, srv.URL+"/", "wrong", "", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	// Refused before a body is read, whatever its size.
	resp = post(t, srv.URL+"/", "", "application/json", strings.Repeat(" ", 2<<20))
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, 2, h.count(t, "SELECT count(*) FROM events"), "refused calls archive nothing")

	get, err := openapitest.ClientFor(t, srv.URL).Get(srv.URL + "/")
	require.NoError(t, err)
	get.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, get.StatusCode)

	// A Knative PingSource posts a CloudEvent: it just means "run now".
	resp = post(t, srv.URL+"/", "admin-secret", "application/cloudevents+json",
		`{"specversion":"1.0","id":"1","source":"/ping","type":"dev.knative.sources.ping"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var body map[string]json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.JSONEq(t, `["`+old.Format(time.DateOnly)+`"]`, string(body["days"]))
	assert.JSONEq(t, `1`, string(body["rows"]))
	var files []string
	require.NoError(t, json.Unmarshal(body["files"], &files))
	require.Len(t, files, 1)
	assert.Contains(t, files[0], h.loc.URL("project=p/date="+old.Format(time.DateOnly))+"/")
	assert.Equal(t, 1, h.count(t, "SELECT count(*) FROM events"))
	assert.Equal(t, 1.0, counter(t, reg, "eventfn_archive_rows_total"))

	// An empty POST (OpenFaaS cron-connector) runs too; nothing is left.
	resp = post(t, srv.URL+"/", "admin-secret", "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.JSONEq(t, `[]`, string(body["days"]))
	assert.JSONEq(t, `0`, string(body["rows"]))
	assert.JSONEq(t, `[]`, string(body["files"]))

	ready, err := openapitest.ClientFor(t, srv.URL).Get(srv.URL + "/readyz")
	require.NoError(t, err)
	ready.Body.Close()
	assert.Equal(t, http.StatusOK, ready.StatusCode)
	doc, err := openapitest.ClientFor(t, srv.URL).Get(srv.URL + "/openapi.json")
	require.NoError(t, err)
	defer doc.Body.Close()
	var openapi map[string]any
	require.NoError(t, json.NewDecoder(doc.Body).Decode(&openapi))
	assert.Equal(t, "3.1.0", openapi["openapi"])
}

func TestBackgroundArchivesEveryInterval(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fileBackend)
	h.insert(t, newEvent(t, "p", "o1", time.Now().UTC().AddDate(0, 0, -40), "u1", ""))
	fn, _, _ := bootFunction(t, h, func(c *Config) { c.ArchiveEvery = Interval(20 * time.Millisecond) })
	require.NotNil(t, fn.Background)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn.Background(ctx) }()
	testenv.Eventually(t, 30*time.Second, func() bool {
		return h.count(t, "SELECT count(*) FROM eventfn_meta.archive_files") == 1
	}, "the background loop archives the old day")
	cancel()
	assert.NoError(t, <-done)
	assert.Equal(t, 0, h.count(t, "SELECT count(*) FROM events"))

	fn, _, _ = bootFunction(t, h, nil)
	assert.Nil(t, fn.Background, "ARCHIVE_EVERY=0 runs only on POST")
}

func TestUnreadyWhenArchiveLocationNotWritable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fileBackend)
	_, srv, _ := bootFunction(t, h, func(c *Config) { c.ArchiveURL = "file:///proc/eventfn-archive" })
	assert.Equal(t, http.StatusServiceUnavailable, readyz(t, srv))
}

// TestHTTPArchiveToS3 is the function as the OpenFaaS and Knative
// manifests configure it: ARCHIVE_URL=s3://..., ARCHIVE_S3_ENDPOINT and
// credentials in the standard AWS variables (hence not parallel).
func TestHTTPArchiveToS3(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "eventfn")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "eventfn-secret")
	h := newHarness(t, fakeS3Backend)
	old := time.Now().UTC().AddDate(0, 0, -40)
	h.insert(t, newEvent(t, "p", "o1", old, "u1", `{"a":1}`), newEvent(t, "p", "n1", time.Now(), "u1", ""))
	_, srv, reg := bootFunction(t, h, nil)
	assert.Equal(t, http.StatusOK, readyz(t, srv), "the bucket is reachable and writable")

	resp := post(t, srv.URL+"/", "admin-secret", "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var res Result
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&res))
	assert.Equal(t, []string{old.Format(time.DateOnly)}, res.Days)
	require.Len(t, res.Files, 1)
	assert.True(t, strings.HasPrefix(res.Files[0], h.loc.url+"/project=p/date="+old.Format(time.DateOnly)+"/"), res.Files[0])
	assert.Equal(t, 1.0, counter(t, reg, "eventfn_archive_rows_total"))
	_, _, files := h.archivedRows(t)
	assert.Len(t, files, 1)

	_, srv, _ = bootFunction(t, h, func(c *Config) { c.ArchiveURL = "s3://no-such-bucket/events" })
	assert.Equal(t, http.StatusServiceUnavailable, readyz(t, srv), "a missing bucket makes the function unready")
}

// readyz is the status of srv's /readyz.
func readyz(t *testing.T, srv *httptest.Server) int {
	t.Helper()
	resp, err := openapitest.ClientFor(t, srv.URL).Get(srv.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// counter is the value of the unlabelled counter name in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
