package serve

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// readyTimeout bounds one check of the dependencies.
const readyTimeout = 2 * time.Second

// ReadyCheckInterval is how often a serving function checks its
// dependencies on its own, so that eventfn_ready follows them even when
// nothing requests /readyz.
const ReadyCheckInterval = 15 * time.Second

// errShuttingDown is the readiness failure of a draining server.
var errShuttingDown = errors.New("shutting down")

// Drain makes /readyz fail from now on.
func (s *Server) Drain() {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	s.draining.Store(true)
	s.metrics.ready.WithLabelValues(s.fn.Name).Set(0)
}

// CheckReady checks the function's dependencies once, within readyTimeout,
// and records the result as eventfn_ready. It returns the function's Ready
// error, or an error saying the server shuts down.
func (s *Server) CheckReady(ctx context.Context) error {
	err := s.checkReady(ctx)
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	// A drain that began during the check wins: readiness never comes back.
	if err == nil && !s.draining.Load() {
		s.metrics.ready.WithLabelValues(s.fn.Name).Set(1)
	} else {
		s.metrics.ready.WithLabelValues(s.fn.Name).Set(0)
	}
	return err
}

func (s *Server) checkReady(ctx context.Context) error {
	if s.draining.Load() {
		return errShuttingDown
	}
	if s.fn.Ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return s.fn.Ready(ctx)
}

// WatchReady checks readiness at once and then every interval until ctx
// ends; it always returns ctx's error.
func (s *Server) WatchReady(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_ = s.CheckReady(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if err := s.CheckReady(r.Context()); err != nil {
		writeResponse(w, JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()}))
		return
	}
	writeResponse(w, JSON(http.StatusOK, map[string]string{"status": "ready"}))
}
