package archive

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/store"
)

//go:embed openapi.json
var openAPI []byte

// Spec is the archive function.
var Spec = serve.NewSpec("archive", New)

// maxBody bounds the request body: it is never read beyond "a call came"
// (empty from a cron connector, a CloudEvent from a PingSource).
const maxBody = 64 << 10

// Function serves the archive function.
type Function struct {
	cfg  Config
	pool *pgxpool.Pool
	arch *Archiver
	log  *slog.Logger
	m    *metrics

	mu       sync.Mutex
	prepared bool
}

// New returns the archive function. PostgreSQL need not be up yet: the
// function then reports unready and answers 503 until it is, migrating the
// schema on first contact; an unreachable or unwritable archive location
// makes it unready too. A bad ARCHIVE_URL or ARCHIVE_S3_ENDPOINT is an error
// naming it.
func New(ctx context.Context, cfg Config, deps serve.Deps) (*serve.Function, error) {
	storage, err := cfg.Storage()
	if err != nil {
		return nil, err
	}
	pool, err := store.Open(ctx, cfg.Postgres)
	if err != nil {
		return nil, err
	}
	f := &Function{
		cfg:  cfg,
		pool: pool,
		arch: NewArchiver(pool, storage, cfg.HotDays, deps.Logger),
		log:  deps.Logger,
		m:    newMetrics(deps.Registerer),
	}
	if cfg.AdminKey == "" {
		deps.Logger.Warn("ADMIN_KEY is not set: anyone who reaches the function can start an archive run")
	}
	if err := f.prepare(ctx); err != nil {
		deps.Logger.Warn("not ready at start; retrying on first use", "error", err)
	}
	fn := &serve.Function{
		Handle:       f.Handle,
		Precheck:     serve.AdminPrecheck(cfg.AdminKey),
		MaxBodyBytes: maxBody,
		Ready:        f.Ready,
		OpenAPI:      openAPI,
		Close:        pool.Close,
	}
	if cfg.ArchiveEvery.Duration() > 0 {
		fn.Background = f.loop
	}
	return fn, nil
}

// prepare migrates the schema, once per process.
func (f *Function) prepare(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.prepared {
		return nil
	}
	if err := store.Migrate(ctx, f.pool); err != nil {
		return err
	}
	f.prepared = true
	return nil
}

// Ready reports whether PostgreSQL is reachable, the schema ready and the
// archive location writable.
func (f *Function) Ready(ctx context.Context) error {
	if err := f.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := f.prepare(ctx); err != nil {
		return err
	}
	return f.arch.storage.Check(ctx)
}

// Handle serves POST /: any body means "archive now". ADMIN_KEY, when
// set, was checked already, before the body was read (Precheck).
func (f *Function) Handle(req handler.Request) (handler.Response, error) {
	if req.Method != http.MethodPost {
		resp := serve.Error(event.Errorf(event.CodeMethodNotAllowed, "use POST"))
		resp.Header.Set("Allow", "POST")
		return resp, nil
	}
	res, err := f.run(req.Context())
	if err != nil {
		return f.failed(err), nil
	}
	return serve.JSON(http.StatusOK, res), nil
}

// run is one archive pass, measured.
func (f *Function) run(ctx context.Context) (Result, error) {
	start := time.Now()
	if err := f.prepare(ctx); err != nil {
		f.m.observe(Result{}, err, time.Since(start))
		return Result{}, err
	}
	res, err := f.arch.Run(ctx)
	f.m.observe(res, err, time.Since(start))
	return res, err
}

// loop runs an archive pass every ARCHIVE_EVERY until ctx ends; a failed
// pass is logged and retried at the next tick (nothing is lost by waiting).
func (f *Function) loop(ctx context.Context) error {
	t := time.NewTicker(f.cfg.ArchiveEvery.Duration())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		res, err := f.run(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			f.log.Warn("archive run failed; retrying at the next interval", "error", err)
		case res.Rows > 0:
			f.log.Info("archive run", "days", res.Days, "rows", res.Rows, "files", len(res.Files))
		}
	}
}

// failed answers 503 when the database could not be reached (retrying
// later finishes the run), 500 otherwise, and logs the error once, here.
func (f *Function) failed(err error) handler.Response {
	f.log.Error("archive run failed", "error", err)
	if store.IsUnavailable(err) {
		return serve.Error(event.Wrap(event.CodeUnavailable, err, "archive run interrupted; nothing was lost, retry later to finish it"))
	}
	return serve.Error(err)
}
