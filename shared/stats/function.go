package stats

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	handler "github.com/openfaas/templates-sdk/go-http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfn/eventfn/shared/auth"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/store"
)

var (
	//go:embed openapi/stats-dau.json
	dauOpenAPI []byte
	//go:embed openapi/stats-top.json
	topOpenAPI []byte
	//go:embed openapi/stats-retention.json
	retentionOpenAPI []byte
)

// Specs of the three stats functions.
var (
	DAUSpec       = serve.NewSpec("stats-dau", NewDAU)
	TopSpec       = serve.NewSpec("stats-top", NewTop)
	RetentionSpec = serve.NewSpec("stats-retention", NewRetention)
)

// NewDAU returns the stats-dau function.
func NewDAU(ctx context.Context, cfg Config, deps serve.Deps) (*serve.Function, error) {
	return newFunction(ctx, kindDAU, cfg, deps)
}

// NewTop returns the stats-top function.
func NewTop(ctx context.Context, cfg Config, deps serve.Deps) (*serve.Function, error) {
	return newFunction(ctx, kindTop, cfg, deps)
}

// NewRetention returns the stats-retention function.
func NewRetention(ctx context.Context, cfg Config, deps serve.Deps) (*serve.Function, error) {
	return newFunction(ctx, kindRetention, cfg, deps)
}

// Stats serves one stats function.
type Stats struct {
	kind kind
	cfg  Config
	keys *auth.Keys
	// pool is DATABASE_URL, the primary: migrations, zones, compaction.
	pool *pgxpool.Pool
	// read is where the queries go: pool, or STATS_DATABASE_URL's replica.
	read   *pgxpool.Pool
	engine *engine
	log    *slog.Logger
	m      *metrics

	mu       sync.Mutex
	prepared bool
}

// newFunction connects to PostgreSQL (which need not be up yet: the
// function then reports unready and answers 503) and, once reachable,
// migrates the schema and makes sure ROLLUP_TIMEZONES have rollups.
func newFunction(ctx context.Context, k kind, cfg Config, deps serve.Deps) (*serve.Function, error) {
	return build(ctx, k, cfg, deps, false)
}

// build is newFunction; columnsOnly turns the rollup path off.
func build(ctx context.Context, k kind, cfg Config, deps serve.Deps, columnsOnly bool) (*serve.Function, error) {
	keys, err := auth.New(cfg.Auth)
	if err != nil {
		return nil, err
	}
	if keys.Disabled() {
		deps.Logger.Warn("AUTH_DISABLED is on: every request acts on project \"default\"; use this for local development only")
	} else if keys.Len() == 0 {
		deps.Logger.Warn("no API keys configured (API_KEYS, API_KEYS_FILE): every request will get 401")
	}
	pool, err := openPool(ctx, cfg, "DATABASE_URL", cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	read := pool
	if cfg.ReadURL() != cfg.DatabaseURL {
		if read, err = openPool(ctx, cfg, "STATS_DATABASE_URL", cfg.ReadURL()); err != nil {
			pool.Close()
			return nil, err
		}
		deps.Logger.Info("stats read STATS_DATABASE_URL; migrations, new zones and compaction go to DATABASE_URL")
	}
	stopKeys := keys.Watch(deps.Logger, auth.ReloadEvery)
	s := &Stats{kind: k, cfg: cfg, keys: keys, pool: pool, read: read, engine: &engine{pool: read, columnsOnly: columnsOnly}, log: deps.Logger, m: newMetrics(deps.Registerer)}
	if err := s.prepare(ctx); err != nil {
		deps.Logger.Warn("not ready at start; retrying on first use", "error", err)
	}
	openAPI := map[kind][]byte{kindDAU: dauOpenAPI, kindTop: topOpenAPI, kindRetention: retentionOpenAPI}[k]
	fn := &serve.Function{
		Name:    k.String(),
		Handle:  s.Handle,
		Ready:   s.Ready,
		OpenAPI: openAPI,
		Close: func() {
			stopKeys()
			if read != pool {
				read.Close()
			}
			pool.Close()
		},
	}
	if cfg.CompactInterval > 0 {
		fn.Background = s.compactLoop
	}
	return fn, nil
}

// compactLoop merges the small column chunks of every UTC day, today's
// included, every STATS_COMPACT_INTERVAL until ctx ends. Failures are
// logged and retried at the next tick: compaction only saves space and
// time. A chunk of today merged while the materializer adds others is
// safe: Compact merges only chunks it listed, and those never change.
func (s *Stats) compactLoop(ctx context.Context) error {
	t := time.NewTicker(s.cfg.CompactInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.prepare(ctx); err != nil {
			continue
		}
		tomorrow := rollup.DayOf(time.Now(), time.UTC) + 1
		n, err := rollup.Compact(ctx, s.pool, tomorrow)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("compacting columns failed; retrying at the next interval", "error", err)
		case n > 0:
			s.log.Info("compacted columns", "chunks_merged", n)
		}
	}
}

// openPool is store.Open with the session settings of analytical reads:
// no JIT (compiling costs more than these queries take) and the query
// timeout enforced by the server too. name is the variable url came from.
func openPool(ctx context.Context, cfg Config, name, url string) (*pgxpool.Pool, error) {
	pg := cfg.Postgres
	pg.DatabaseURL = url
	return openReader(ctx, pg, name, cfg.QueryTimeout)
}

// OpenPool opens the pool of a reader of stats: cfg's database with JIT
// off and queryTimeout as the server's statement_timeout.
func OpenPool(ctx context.Context, cfg config.Postgres, queryTimeout time.Duration) (*pgxpool.Pool, error) {
	return openReader(ctx, cfg, "DATABASE_URL", queryTimeout)
}

// openReader opens a pool on cfg's database for analytical reads; name is
// the variable its URL came from, for errors.
func openReader(ctx context.Context, cfg config.Postgres, name string, queryTimeout time.Duration) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	pc.MaxConns = cfg.DatabaseMaxConns
	pc.ConnConfig.RuntimeParams["jit"] = "off"
	pc.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(queryTimeout.Milliseconds())
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	return pool, nil
}

// prepare migrates and ensures the rollup zones, once per process.
func (s *Stats) prepare(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prepared {
		return nil
	}
	if err := store.Migrate(ctx, s.pool); err != nil {
		return err
	}
	zones, err := s.cfg.Timezones()
	if err != nil {
		return err
	}
	if err := rollup.EnsureTimezones(ctx, s.pool, zones); err != nil {
		return err
	}
	s.prepared = true
	return nil
}

// Ready reports whether the database the queries read is reachable and
// the schema ready (prepared once through the primary).
func (s *Stats) Ready(ctx context.Context) error {
	if err := s.read.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return s.prepare(ctx)
}

// Handle serves GET / with the OpenFaaS go-http signature.
func (s *Stats) Handle(req handler.Request) (handler.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		resp := serve.Error(event.Errorf(event.CodeMethodNotAllowed, "use GET"))
		resp.Header.Set("Allow", "GET, HEAD")
		return resp, nil
	}
	who, err := s.keys.Authorize(req.Header, auth.RoleRead)
	if err != nil {
		return serve.Error(err), nil
	}
	q, err := parseQuery(s.kind, req.QueryString, s.cfg.MaxRangeDays)
	if err != nil {
		return serve.Error(err), nil
	}
	q.Project = who.Project
	ctx, cancel := context.WithTimeout(req.Context(), s.cfg.QueryTimeout)
	defer cancel()
	if err := s.prepare(ctx); err != nil {
		return s.failed(err), nil
	}
	start := time.Now()
	var body any
	var path string
	switch s.kind {
	case kindDAU:
		body, path, err = s.engine.dau(ctx, &q)
	case kindTop:
		body, path, err = s.engine.top(ctx, &q)
	default:
		body, path, err = s.engine.retention(ctx, &q)
	}
	if err != nil {
		return s.failed(err), nil
	}
	s.m.observe(s.kind, path, time.Since(start))
	resp := serve.JSON(http.StatusOK, body)
	resp.Header.Set("X-Stats-Path", path)
	resp.Header.Set("Cache-Control", "no-store")
	return resp, nil
}

// failed answers 503 when the database could not be reached or the query
// ran out of time, 500 otherwise, and logs the error once, here.
func (s *Stats) failed(err error) handler.Response {
	s.log.Error("stats query failed", "error", err)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &pgErr) && pgErr.Code == "57014"):
		return serve.Error(event.Wrap(event.CodeUnavailable, err,
			fmt.Sprintf("the query took longer than %s; narrow the range or the filters", s.cfg.QueryTimeout)))
	case store.IsUnavailable(err):
		return serve.Error(event.Wrap(event.CodeUnavailable, err, "database unavailable; retry later"))
	case errors.As(err, &pgErr) && pgErr.Code == "40001":
		// On a replica, replay cancels a query whose rows it must remove
		// (a conflict with recovery): asking again works.
		return serve.Error(event.Wrap(event.CodeUnavailable, err, "the query was cancelled by the database; retry"))
	}
	return serve.Error(err)
}

// metrics counts queries by function and path (rollup, rollup+tail or columns).
type metrics struct {
	queries *prometheus.CounterVec
	seconds *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfn_stats_queries_total", Help: "Stats queries answered, by function and path (rollup, rollup+tail or columns).",
		}, []string{"function", "path"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventfn_stats_query_seconds", Help: "Time to compute a stats answer, by function and path.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"function", "path"}),
	}
	reg.MustRegister(m.queries, m.seconds)
	return m
}

func (m *metrics) observe(k kind, path string, d time.Duration) {
	m.queries.WithLabelValues(k.String(), path).Inc()
	m.seconds.WithLabelValues(k.String(), path).Observe(d.Seconds())
}
