package serve_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/testenv"
)

// TestRunDrainsOnShutdown: on a signal the function fails readiness, lets
// in-flight requests finish, stops its background work and closes.
func TestRunDrainsOnShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var closed, bgStopped atomic.Bool
	fn := &serve.Function{
		Name: "slow",
		Handle: func(req handler.Request) (handler.Response, error) {
			close(entered)
			<-release
			return serve.JSON(http.StatusOK, map[string]string{"done": "yes"}), nil
		},
		Background: func(ctx context.Context) error {
			<-ctx.Done()
			bgStopped.Store(true)
			return ctx.Err()
		},
		Close: func() { closed.Store(true) },
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	srv := serve.NewServer(fn, log, reg, reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve.Run(ctx, ln, srv, fn, 10*time.Second, log) }()

	inflight := make(chan int, 1)
	go func() {
		resp, err := http.Post(base+"/", "application/json", nil)
		if err != nil {
			inflight <- 0
			return
		}
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	<-entered
	cancel()
	testenv.Eventually(t, 5*time.Second, func() bool {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code == http.StatusServiceUnavailable
	}, "readiness fails once shutdown starts")
	close(release)
	assert.Equal(t, http.StatusOK, <-inflight, "the in-flight request completes")
	require.NoError(t, <-done)
	assert.True(t, closed.Load())
	assert.True(t, bgStopped.Load())
}

func TestErrorsMapToOneStatusTable(t *testing.T) {
	tests := []struct {
		code event.Code
		want int
	}{
		{event.CodeInvalid, 400}, {event.CodeUnauthorized, 401}, {event.CodeForbidden, 403},
		{event.CodeTooLarge, 413}, {event.CodeUnsupportedMedia, 415}, {event.CodeRateLimited, 429},
		{event.CodeUnavailable, 503}, {event.CodeNotImplemented, 501},
	}
	for _, tc := range tests {
		resp := serve.Error(event.Errorf(tc.code, "x"))
		assert.Equal(t, tc.want, resp.StatusCode, tc.code)
		assert.JSONEq(t, `{"error":"x"}`, string(resp.Body))
	}
	resp := serve.Error(io.ErrUnexpectedEOF)
	assert.Equal(t, 500, resp.StatusCode)
	assert.JSONEq(t, `{"error":"internal error"}`, string(resp.Body), "internal errors do not leak")
	assert.Equal(t, "1", serve.Error(event.Errorf(event.CodeUnavailable, "down")).Header.Get("Retry-After"))
}

// TestSlowBodyIsCutOffAndSlowHandlerIsNot: a body that trickles in is cut
// off after the body timeout, while a handler may take longer than that
// once its body arrived, its context alive.
func TestSlowBodyIsCutOffAndSlowHandlerIsNot(t *testing.T) {
	defer serve.SetBodyTimeout(300 * time.Millisecond)()
	fn := &serve.Function{
		Name: "slow-handler",
		Handle: func(req handler.Request) (handler.Response, error) {
			select {
			case <-time.After(time.Second):
				return serve.JSON(http.StatusOK, map[string]int{"body": len(req.Body)}), nil
			case <-req.Context().Done():
				return handler.Response{}, req.Context().Err()
			}
		},
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	srv := serve.NewServer(fn, log, reg, reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve.Run(ctx, ln, srv, fn, 5*time.Second, log) }()
	defer func() { cancel(); <-done }()

	resp, err := http.Post("http://"+ln.Addr().String()+"/", "application/json", strings.NewReader(`{"a":1}`))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)

	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	require.NoError(t, err)
	// The rest never comes: the server answers or hangs up, well before
	// this generous deadline.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadAll(conn)
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "the server held a trickling body: %v", err)
}

// TestPagesServeEveryPathButTheStandardOnes: a function with Pages gets
// "/" and every other path, with a request id and a bounded body; the
// standard endpoints stay the server's.
func TestPagesServeEveryPathButTheStandardOnes(t *testing.T) {
	fn := &serve.Function{
		Name:         "pages",
		MaxBodyBytes: 10,
		Pages: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/boom" {
				panic("boom")
			}
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
			_, _ = io.WriteString(w, r.URL.Path+" "+serve.RequestID(r.Context())+" "+string(b))
		}),
	}
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(serve.NewServer(fn, slog.New(slog.DiscardHandler), reg, reg))
	defer srv.Close()
	call := func(method, path, body string) (int, string, http.Header) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	code, body, h := call(http.MethodGet, "/a/page", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "/a/page "+h.Get("X-Request-Id")+" ", body)
	code, body, _ = call(http.MethodPost, "/", "0123456789")
	assert.Equal(t, http.StatusOK, code)
	assert.True(t, strings.HasSuffix(body, " 0123456789"), body)
	code, _, _ = call(http.MethodPost, "/", "0123456789-")
	assert.Equal(t, http.StatusRequestEntityTooLarge, code, "MaxBodyBytes bounds the body")
	code, _, _ = call(http.MethodGet, "/boom", "")
	assert.Equal(t, http.StatusInternalServerError, code, "a panic is a 500")
	code, body, _ = call(http.MethodGet, "/healthz", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "ok")
}
