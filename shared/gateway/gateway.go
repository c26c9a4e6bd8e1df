// Package gateway serves every eventfn function in one process behind the
// OpenFaaS URL scheme, /function/<name>/..., for `make run`: a URL that works
// locally works on OpenFaaS by changing the host. It runs each function's
// background work (the continuous consumer) and stops cleanly on a signal.
package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/serve"
)

// Config is the gateway's own environment; each function reads its own.
type Config struct {
	// GatewayAddr is where the gateway listens.
	GatewayAddr string `envconfig:"GATEWAY_ADDR" default:"127.0.0.1:8080"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `envconfig:"LOG_LEVEL" default:"info"`
	// ShutdownTimeout bounds the drain on SIGINT/SIGTERM.
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"20s"`
}

// Validate checks the address and the log level.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.GatewayAddr); err != nil {
		return fmt.Errorf("GATEWAY_ADDR %q is not host:port: %v", c.GatewayAddr, err)
	}
	_, err := config.ParseLevel(c.LogLevel)
	return err
}

// Gateway routes /function/<name>/ to each function's server.
type Gateway struct {
	log     *slog.Logger
	servers map[string]*serve.Server
	fns     map[string]*serve.Function
	names   []string
	// openapi is the whole API in one document (MergeOpenAPI).
	openapi []byte
}

// New builds every function from the environment. A config error stops the
// whole gateway, naming the variable, as a function's start would.
func New(ctx context.Context, specs []serve.Spec, log *slog.Logger) (*Gateway, error) {
	g := &Gateway{log: log, servers: map[string]*serve.Server{}, fns: map[string]*serve.Function{}}
	for _, spec := range specs {
		name := spec.Name()
		g.names = append(g.names, name)
		// Each function keeps its own registry, as it would in its own
		// process, so their metric names do not collide.
		reg := prometheus.NewRegistry()
		flog := log.With("function", name)
		fn, _, err := spec.Build(ctx, func(config.Server) (serve.Deps, error) {
			return serve.Deps{Logger: flog, Registerer: reg}, nil
		})
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		g.fns[name] = fn
		g.servers[name] = serve.NewServer(fn, flog, reg, reg)
	}
	sort.Strings(g.names)
	docs := map[string][]byte{}
	for name, srv := range g.servers {
		if doc := srv.OpenAPI(); doc != nil {
			docs[name] = doc
		}
	}
	doc, err := MergeOpenAPI(docs)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("openapi: %w", err)
	}
	g.openapi = doc
	return g, nil
}

// ServeHTTP strips /function/<name> and hands the rest to the function.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/function/")
	if !ok {
		switch r.URL.Path {
		case "/", "/healthz":
			writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "functions": g.names})
		case "/openapi.json":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(g.openapi)
		default:
			writeJSON(w, http.StatusNotFound, serve.ErrorBody{Error: "not found: functions are at /function/<name>/"})
		}
		return
	}
	name, path, _ := strings.Cut(rest, "/")
	srv, ok := g.servers[name]
	if !ok {
		writeJSON(w, http.StatusNotFound, serve.ErrorBody{Error: fmt.Sprintf("no function %q; functions: %s", name, strings.Join(g.names, ", "))})
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + path
	r2.URL.RawPath = ""
	// Where the function is mounted, for one that links its own pages
	// (the dashboard), as the compose gateway says it too.
	r2.Header.Set("X-Forwarded-Prefix", "/function/"+name)
	srv.ServeHTTP(w, r2)
}

// Run serves on ln and runs every function's background work until ctx
// ends, then fails readiness, drains requests, stops the background work
// and closes the functions.
func (g *Gateway) Run(ctx context.Context, ln net.Listener, timeout time.Duration) error {
	lc := serve.Lifecycle{
		Drain: func() {
			for _, s := range g.servers {
				s.Drain()
			}
		},
		Close: g.Close,
	}
	for _, fn := range g.fns {
		if fn.Background != nil {
			lc.Background = append(lc.Background, fn.Background)
		}
	}
	for _, s := range g.servers {
		lc.Background = append(lc.Background, func(ctx context.Context) error { return s.WatchReady(ctx, serve.ReadyCheckInterval) })
	}
	return serve.RunHTTP(ctx, ln, g, lc, timeout, g.log)
}

// Close releases every function's connections.
func (g *Gateway) Close() {
	for _, fn := range g.fns {
		if fn.Close != nil {
			fn.Close()
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	resp := serve.JSON(status, v)
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(resp.Body)
}
