package ingest_test

import (
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
	"github.com/eventfn/eventfn/shared/ingest"
	"github.com/eventfn/eventfn/shared/openapitest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/testenv"
)

// TestIngestRedisDownNamesWhatFailed: with the rate limits off, the dedup
// store is what a Redis outage stops, and the answer says so.
func TestIngestRedisDownNamesWhatFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), func(c *ingest.Config) {
		c.RedisURL = "redis://127.0.0.1:" + testenv.ClosedPort(t) + "/0"
		c.RateLimitEventsPerSecond, c.RateLimitRequestsPerMinute = 0, 0
	})
	r := h.post(t, writeKey, structured, ce("d1"))
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.raw)
	assert.Contains(t, r.raw, "dedup store (Redis) unavailable")
	assert.NotContains(t, r.raw, "rate limit")
}

// TestIngestLibraryLogsAreJSON: go-redis's own lines (a failed dial) go
// through the function's JSON logger, not as plain text to stderr. Not
// parallel: go-redis has one logger per process, which ingest.New sets.
func TestIngestLibraryLogsAreJSON(t *testing.T) {
	var logs testenv.Buffer
	rcfg, _ := testenv.Redis(t)
	var cfg ingest.Config
	require.NoError(t, config.Load(&cfg))
	cfg.Redis = rcfg
	cfg.RedisURL = "redis://127.0.0.1:" + testenv.ClosedPort(t) + "/0"
	cfg.NATS = testenv.NATS(t, testenv.NATSURL())
	cfg.Auth = config.Auth{APIKeys: writeKey + "=shop:write"}
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	fn, err := ingest.New(context.Background(), cfg, serve.Deps{Logger: log, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	fn.Name = "ingest"
	srv := httptest.NewServer(serve.NewServer(fn, log, prometheus.NewRegistry(), prometheus.NewRegistry()))
	t.Cleanup(func() { srv.Close(); fn.Close() })
	h := &harness{url: srv.URL, cfg: cfg, client: openapitest.Fetch(t, srv.URL+"/openapi.json").Client(t)}

	r := h.post(t, writeKey, structured, ce("l1"))
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.raw)
	testenv.Eventually(t, 10*time.Second, func() bool { return strings.Contains(logs.String(), `"library":"go-redis"`) },
		"go-redis's line in the JSON log: %s", logs.String())
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		assert.True(t, json.Valid([]byte(line)), "not JSON: %s", line)
	}
	assert.Contains(t, logs.String(), "failed to dial")
}
