package serve

import (
	"net/http"
	"runtime/debug"
	"time"
)

// statusWriter remembers the status a handler wrote, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// servePages hands a request to the function's Pages handler with what
// serveFunction gives Handle: a request id (echoed in X-Request-Id), the
// peer address in the context, a bounded body, the metrics, and a 500
// rather than a dead replica on a panic.
func (s *Server) servePages(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx, reqID := requestContext(r)
	limit := s.fn.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	r = r.WithContext(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	// A body (a sign-in form) gets bodyTimeout, as Handle's does.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyTimeout))
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	sw := &statusWriter{ResponseWriter: w}
	sw.Header().Set("X-Request-Id", reqID)
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("handler panic", "function", s.fn.Name, "request_id", reqID, "panic", p, "stack", string(debug.Stack()))
			if sw.status == 0 {
				http.Error(sw, "internal error", http.StatusInternalServerError)
			}
		}
		s.observe(start, sw.status)
	}()
	s.fn.Pages.ServeHTTP(sw, r)
}
