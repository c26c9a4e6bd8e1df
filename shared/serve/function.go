package serve

import (
	"context"
	"log/slog"
	"net/http"

	handler "github.com/openfaas/templates-sdk/go-http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfn/eventfn/shared/config"
)

// Handle is the OpenFaaS golang-http function signature; a returned error
// becomes a 500 with a generic message.
type Handle func(req handler.Request) (handler.Response, error)

// Function is one eventfn function, built once at start.
type Function struct {
	// Name is the function's name, as in functions/<name>.
	Name string
	// Handle serves the function's work at "/".
	Handle Handle
	// Pages, when set, serves the function's work instead of Handle, at "/"
	// and at every other path but the standard endpoints: a function of
	// several pages (the dashboard). Bodies are bounded by MaxBodyBytes.
	Pages http.Handler
	// MaxBodyBytes bounds the request body read for Handle; a larger body is
	// answered 413 without calling Handle. 0 means 1 MiB.
	MaxBodyBytes int64
	// Precheck, when set, sees each request to "/" before its body is read
	// (Body is nil); a response it returns is sent instead of calling
	// Handle. It lets a cheap refusal come first: an unauthenticated client
	// gets its 401, not a 413 for a body it should not have sent at all.
	Precheck func(req handler.Request) *handler.Response
	// Ready reports whether the function's dependencies are reachable.
	Ready func(ctx context.Context) error
	// OpenAPI is the function's OpenAPI 3.1 document.
	OpenAPI []byte
	// Background, when set, runs for the process's life (a continuous
	// consumer, a schedule); an error from it stops the process.
	Background func(ctx context.Context) error
	// Close releases connections after the server drained.
	Close func()
	// GCPercent, when positive, is the garbage collector's target (as
	// GOGC) of a process that serves this function alone (Main), unless
	// the environment sets GOGC: for a function whose live heap is small
	// and whose requests allocate a lot, collecting at the default
	// target costs more CPU than the memory it saves.
	GCPercent int
}

// Deps is what a function's constructor receives besides its config.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Settings is implemented by every function config through its embedded
// config.Server.
type Settings interface {
	ServerSettings() config.Server
}

// Spec names a function and how to build it from its config; Main and the
// local gateway both build functions through it.
type Spec interface {
	// Name is the function's name.
	Name() string
	// Build loads the function's config from the environment and builds it.
	// It returns the server settings so Main knows the port and log level.
	Build(ctx context.Context, deps func(config.Server) (Deps, error)) (*Function, config.Server, error)
	// Config returns a pointer to a new zero config of the function, for
	// tools that check the environment a deployment gives it.
	Config() any
}

type spec[C Settings] struct {
	name  string
	build func(context.Context, C, Deps) (*Function, error)
}

// NewSpec returns the Spec of a function whose constructor takes config C.
func NewSpec[C Settings](name string, build func(context.Context, C, Deps) (*Function, error)) Spec {
	return spec[C]{name: name, build: build}
}

func (s spec[C]) Name() string { return s.name }

func (s spec[C]) Config() any { return new(C) }

func (s spec[C]) Build(ctx context.Context, deps func(config.Server) (Deps, error)) (*Function, config.Server, error) {
	var cfg C
	if err := config.Load(&cfg); err != nil {
		return nil, config.Server{}, err
	}
	d, err := deps(cfg.ServerSettings())
	if err != nil {
		return nil, config.Server{}, err
	}
	fn, err := s.build(ctx, cfg, d)
	if err != nil {
		return nil, config.Server{}, err
	}
	fn.Name = s.name
	return fn, cfg.ServerSettings(), nil
}
