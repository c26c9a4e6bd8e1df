package serve_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/testenv"
)

// readyGauge is the value of eventfn_ready{function="f"}, or -1 when the
// series does not exist.
func readyGauge(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "eventfn_ready" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "function" && l.GetValue() == "f" {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// TestReadinessIsAMetric: eventfn_ready follows each /readyz check, and the
// periodic check updates it with nobody asking; a drain sets 0 for good.
func TestReadinessIsAMetric(t *testing.T) {
	var down atomic.Bool
	fn := &serve.Function{
		Name:   "f",
		Handle: func(handler.Request) (handler.Response, error) { return serve.JSON(http.StatusOK, nil), nil },
		Ready: func(context.Context) error {
			if down.Load() {
				return errors.New("redis: connection refused")
			}
			return nil
		},
	}
	reg := prometheus.NewRegistry()
	srv := serve.NewServer(fn, slog.New(slog.DiscardHandler), reg, reg)
	assert.Equal(t, -1.0, readyGauge(t, reg), "no series before the first check")

	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	code, _ := readyz()
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, 1.0, readyGauge(t, reg))
	down.Store(true)
	code, body := readyz()
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "redis", "the reason names the dependency")
	assert.Equal(t, 0.0, readyGauge(t, reg))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.WatchReady(ctx, 10*time.Millisecond) }()
	down.Store(false)
	testenv.Eventually(t, 10*time.Second, func() bool { return readyGauge(t, reg) == 1 }, "the periodic check sees the dependency back")
	down.Store(true)
	testenv.Eventually(t, 10*time.Second, func() bool { return readyGauge(t, reg) == 0 }, "the periodic check sees it go")
	down.Store(false)
	testenv.Eventually(t, 10*time.Second, func() bool { return readyGauge(t, reg) == 1 }, "and come back")

	srv.Drain()
	assert.Equal(t, 0.0, readyGauge(t, reg), "a drain fails readiness at once")
	// Checks after the drain, periodic or requested, keep it at 0.
	code, body = readyz()
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "shutting down")
	assert.Error(t, srv.CheckReady(context.Background()))
	assert.Equal(t, 0.0, readyGauge(t, reg))
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

// TestRequestMetricsCarryFunctionAndCode: requests and their durations are
// counted by function and status code.
func TestRequestMetricsCarryFunctionAndCode(t *testing.T) {
	fn := &serve.Function{
		Name: "f",
		Handle: func(req handler.Request) (handler.Response, error) {
			if req.Method != http.MethodPost {
				return serve.JSON(http.StatusMethodNotAllowed, nil), nil
			}
			return serve.JSON(http.StatusAccepted, nil), nil
		},
	}
	reg := prometheus.NewRegistry()
	srv := serve.NewServer(fn, slog.New(slog.DiscardHandler), reg, reg)
	for _, m := range []string{http.MethodPost, http.MethodPost, http.MethodGet} {
		srv.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(m, "/", strings.NewReader("{}")))
	}
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP eventfn_http_requests_total HTTP requests to the function's work path, by status code.
# TYPE eventfn_http_requests_total counter
eventfn_http_requests_total{code="202",function="f"} 2
eventfn_http_requests_total{code="405",function="f"} 1
`), "eventfn_http_requests_total"))
	n, err := testutil.GatherAndCount(reg, "eventfn_http_request_duration_seconds")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "one duration series per status")
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "eventfn_http_request_duration_seconds" {
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				assert.Equal(t, "f", labels["function"])
				assert.Contains(t, []string{"202", "405"}, labels["code"])
			}
		}
	}
}
