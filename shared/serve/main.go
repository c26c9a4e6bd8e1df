package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/eventfn/eventfn/shared/config"
)

// NewLogger returns the JSON logger of a function at the given level.
func NewLogger(w *os.File, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// Main runs one function as a process: it builds the function from the
// environment, serves it on $PORT until SIGINT or SIGTERM, then fails
// readiness, drains and closes. It returns the process exit code; a bad
// config is reported on stderr with the variable's name and gives 1.
func Main(s Spec) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var log *slog.Logger
	fn, srvCfg, err := s.Build(ctx, func(c config.Server) (Deps, error) {
		level, err := config.ParseLevel(c.LogLevel)
		if err != nil {
			return Deps{}, err
		}
		log = NewLogger(os.Stderr, level).With("function", s.Name())
		// Libraries that write through the standard log package (net/http's
		// server errors among them) then log JSON too, not plain text.
		slog.SetDefault(log)
		return Deps{Logger: log, Registerer: reg}, nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", s.Name(), err)
		return 1
	}
	TuneGC(fn)
	LimitMemory(log, containerLimit)
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(srvCfg.Port))
	if err != nil {
		log.Error("listen", "error", err)
		return 1
	}
	srv := NewServer(fn, log, reg, reg)
	if err := Run(ctx, ln, srv, fn, srvCfg.ShutdownTimeout, log); err != nil {
		log.Error("stopped", "error", err)
		return 1
	}
	return 0
}

// TuneGC sets the garbage collector's target to fn.GCPercent when fn has
// one and the environment sets no GOGC, for a process serving fn alone. It
// returns what restores the previous target (benchmarks that run fn
// beside other work).
func TuneGC(fn *Function) (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set || fn.GCPercent <= 0 {
		return func() {}
	}
	old := debug.SetGCPercent(fn.GCPercent)
	return func() { debug.SetGCPercent(old) }
}

// memoryShare is the part of the container's memory limit the garbage
// collector keeps the process under (GOMEMLIMIT), leaving the rest to
// what it does not manage (stacks, cgo, the runtime's own).
const memoryShare = 0.9

// containerLimit is the memory limit of the process's container (its
// cgroup); none where there are no cgroups (make run on macOS), rather
// than an error logged at each start.
func containerLimit() (uint64, error) {
	limit, err := memlimit.FromCgroup()
	if errors.Is(err, memlimit.ErrCgroupsNotSupported) {
		return 0, memlimit.ErrNoLimit
	}
	return limit, err
}

// LimitMemory sets the garbage collector's soft memory limit to
// memoryShare of the limit limits reports (containerLimit), so that near it the collector works harder instead of the
// process being killed: consume-batch, with two materialization steps in
// flight under a sustained load, peaked at 451 MiB of its 512 MiB. A
// GOMEMLIMIT in the environment wins, AUTOMEMLIMIT=off turns it off, and
// without a limit nothing changes. It returns what restores the previous
// limit (tests).
func LimitMemory(log *slog.Logger, limits memlimit.Provider) (restore func()) {
	old := debug.SetMemoryLimit(-1)
	// Set logs what it did, and a failure, through log.
	_, _ = memlimit.Set(memlimit.WithProvider(limits), memlimit.WithRatio(memoryShare), memlimit.WithLogger(log))
	return func() { debug.SetMemoryLimit(old) }
}

// Run serves srv on ln and fn's background work until ctx ends, then drains
// within timeout and closes fn.
func Run(ctx context.Context, ln net.Listener, srv *Server, fn *Function, timeout time.Duration, log *slog.Logger) error {
	bg := []func(context.Context) error{func(ctx context.Context) error { return srv.WatchReady(ctx, ReadyCheckInterval) }}
	if fn.Background != nil {
		bg = append(bg, fn.Background)
	}
	closeFn := func() {}
	if fn.Close != nil {
		closeFn = fn.Close
	}
	return RunHTTP(ctx, ln, srv, Lifecycle{Background: bg, Drain: srv.Drain, Close: closeFn}, timeout, log)
}

// Lifecycle is what RunHTTP runs beside the HTTP server.
type Lifecycle struct {
	// Background work runs until the server stops; an error from one stops
	// the server.
	Background []func(ctx context.Context) error
	// Drain fails readiness; it runs before the server stops accepting.
	Drain func()
	// Close releases connections once requests and background work ended.
	Close func()
}

// Connection timeouts of every function's server and the local gateway:
// a request body (1 MiB at the most by default) must arrive within
// bodyTimeout, and an idle keep-alive connection lasts idleTimeout.
var bodyTimeout = 60 * time.Second

const idleTimeout = 120 * time.Second

// RunHTTP serves h on ln with the background work of lc until ctx ends or
// something fails, then fails readiness, lets in-flight requests finish
// within timeout, stops the background work and closes. It is the one
// shutdown sequence of a function process and of the local gateway.
func RunHTTP(ctx context.Context, ln net.Listener, h http.Handler, lc Lifecycle, timeout time.Duration, log *slog.Logger) error {
	// An idle connection is closed after idleTimeout, and a body must
	// arrive within bodyTimeout (set where it is read): without them a
	// slow or silent client holds a connection for ever. No ReadTimeout or
	// WriteTimeout: they bound the whole exchange, and an archive run
	// answers when it is done.
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: idleTimeout}
	errc := make(chan error, 1+len(lc.Background))
	go func() { errc <- hs.Serve(ln) }()
	bgCtx, bgCancel := context.WithCancel(ctx)
	defer bgCancel()
	var bg sync.WaitGroup
	for _, run := range lc.Background {
		bg.Add(1)
		go func() {
			defer bg.Done()
			if err := run(bgCtx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("background: %w", err)
			}
		}()
	}
	log.Info("serving", "addr", ln.Addr().String())
	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = err
		}
	}
	if lc.Drain != nil {
		lc.Drain()
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil && runErr == nil {
		runErr = fmt.Errorf("shutdown: %w", err)
	}
	bgCancel()
	bg.Wait()
	if lc.Close != nil {
		lc.Close()
	}
	log.Info("stopped")
	return runErr
}
