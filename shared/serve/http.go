package serve

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventfn/eventfn/shared/event"
)

// DefaultMaxBodyBytes bounds a request body when the function sets no limit.
const DefaultMaxBodyBytes = 1 << 20

type ctxKey int

const (
	clientIPKey ctxKey = iota
	requestIDKey
)

// ClientIP returns the peer address of the request that ctx belongs to, as
// the server saw it (no forwarding headers).
func ClientIP(ctx context.Context) string {
	s, _ := ctx.Value(clientIPKey).(string)
	return s
}

// RequestID returns the request id of the request that ctx belongs to.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// Server serves one Function with the standard endpoints.
type Server struct {
	fn      *Function
	log     *slog.Logger
	metrics *metrics
	gather  prometheus.Gatherer
	// openapi is the document /openapi.json serves: the function's own
	// with the standard endpoints added.
	openapi []byte
	// draining fails /readyz once shutdown starts, so the platform stops
	// routing here before in-flight requests are drained.
	draining atomic.Bool
	// readyMu orders draining and eventfn_ready's updates, so that a check
	// that passed just before a drain cannot set 1 after the drain's 0.
	readyMu sync.Mutex
}

// NewServer builds the HTTP server of fn. Metrics register on reg and
// /metrics exposes gather.
// A function's document that cannot be read is served as it is, and logged:
// the OpenAPI tests of every function fail on it.
func NewServer(fn *Function, log *slog.Logger, reg prometheus.Registerer, gather prometheus.Gatherer) *Server {
	s := &Server{fn: fn, log: log, metrics: newMetrics(reg), gather: gather, openapi: fn.OpenAPI}
	if fn.OpenAPI != nil {
		doc, err := WithStandardPaths(fn.OpenAPI)
		if err != nil {
			log.Error("openapi document", "function", fn.Name, "error", err)
		} else {
			s.openapi = doc
		}
	}
	return s
}

// OpenAPI returns the document the server answers at /openapi.json: the
// function's own with the standard endpoints added; nil when the function
// has none.
func (s *Server) OpenAPI() []byte { return s.openapi }

// ServeHTTP routes the standard endpoints and sends everything else to the
// function.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz", "/_/health":
		writeResponse(w, JSON(http.StatusOK, map[string]string{"status": "ok"}))
	case "/readyz", "/_/ready":
		s.serveReady(w, r)
	case "/metrics":
		promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	case "/openapi.json":
		if s.openapi == nil {
			writeResponse(w, Error(event.Errorf(event.CodeNotFound, "no OpenAPI document")))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.openapi)
	case "/", "":
		if s.fn.Pages != nil {
			s.servePages(w, r)
			return
		}
		s.serveFunction(w, r)
	default:
		if s.fn.Pages != nil {
			s.servePages(w, r)
			return
		}
		writeResponse(w, Error(event.Errorf(event.CodeNotFound, "no such path %q; the function serves /", r.URL.Path)))
	}
}

// requestContext gives a request its id (the client's X-Request-Id when it
// is one of a sane length, else a new one) and its peer address.
func requestContext(r *http.Request) (context.Context, string) {
	reqID := r.Header.Get("X-Request-Id")
	if reqID == "" || len(reqID) > 128 {
		reqID = newRequestID()
	}
	ctx := context.WithValue(r.Context(), requestIDKey, reqID)
	return context.WithValue(ctx, clientIPKey, peerIP(r.RemoteAddr)), reqID
}

// observe counts a request to the function's work and its duration, by
// status (0 is 200, as net/http writes it).
func (s *Server) observe(start time.Time, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	code := strconv.Itoa(status)
	s.metrics.requests.WithLabelValues(s.fn.Name, code).Inc()
	s.metrics.duration.WithLabelValues(s.fn.Name, code).Observe(time.Since(start).Seconds())
}

func (s *Server) serveFunction(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx, reqID := requestContext(r)

	resp := s.call(ctx, w, r)
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	resp.Header.Set("X-Request-Id", reqID)
	writeResponse(w, resp)
	s.observe(start, resp.StatusCode)
}

func (s *Server) call(ctx context.Context, w http.ResponseWriter, r *http.Request) (resp handler.Response) {
	defer func() {
		// A panic in one request must not take the replica down with the
		// events of every other request in flight.
		if p := recover(); p != nil {
			s.log.Error("handler panic", "function", s.fn.Name, "request_id", RequestID(ctx), "panic", p, "stack", string(debug.Stack()))
			resp = Error(errors.New("panic"))
		}
	}()
	req := handler.Request{Header: r.Header, QueryString: r.URL.RawQuery, Method: r.Method, Host: r.Host}
	req.WithContext(ctx)
	if s.fn.Precheck != nil {
		if early := s.fn.Precheck(req); early != nil {
			return *early
		}
	}
	limit := s.fn.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	// The body gets bodyTimeout. Once it is in, the deadline goes, so it
	// bounds nothing else on the connection. A body that failed or was cut
	// short keeps it, so the server's drain of the rest fails at once and
	// the connection closes.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyTimeout))
	body, err := readBody(r, limit)
	if err != nil {
		return Error(event.Wrap(event.CodeInvalid, err, "cannot read request body"))
	}
	if int64(len(body)) > limit {
		return Error(event.Errorf(event.CodeTooLarge, "request body is over the limit of %d bytes; nothing was accepted", limit))
	}
	_ = rc.SetReadDeadline(time.Time{})
	req.Body = body
	resp, err = s.fn.Handle(req)
	if err != nil {
		if IsInternal(err) {
			s.log.Error("request failed", "function", s.fn.Name, "request_id", RequestID(ctx), "error", err)
		}
		return Error(err)
	}
	return resp
}

func writeResponse(w http.ResponseWriter, resp handler.Response) {
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Body)
}

func peerIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// readBody reads at most limit+1 bytes of r's body, into one buffer of the
// announced length when there is one: growing it from nothing copies a
// 1 MiB batch some twenty times.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	lr := io.LimitReader(r.Body, limit+1)
	if n := r.ContentLength; n > 0 && n <= limit {
		buf := bytes.NewBuffer(make([]byte, 0, n+1))
		_, err := buf.ReadFrom(lr)
		return buf.Bytes(), err
	}
	return io.ReadAll(lr)
}
