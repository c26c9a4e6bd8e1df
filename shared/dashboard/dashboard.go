package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventfn/eventfn/shared/auth"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/stats"
	"github.com/eventfn/eventfn/shared/store"
)

var (
	//go:embed templates/*.html
	templateFS embed.FS
	//go:embed static/style.css
	styleCSS []byte
	//go:embed openapi.json
	openAPI []byte
)

// Spec is the dashboard function's.
var Spec = serve.NewSpec("dashboard", New)

// Dashboard serves the pages of the dashboard function.
type Dashboard struct {
	cfg      Config
	keys     *auth.Keys
	pool     *pgxpool.Pool
	reader   *stats.Reader
	sessions *sessions
	log      *slog.Logger
	pages    *template.Template

	mu       sync.Mutex
	prepared bool
}

// New returns the dashboard function. PostgreSQL need not be up yet: the
// function then reports unready and answers 503 until it is.
func New(ctx context.Context, cfg Config, deps serve.Deps) (*serve.Function, error) {
	d, err := newDashboard(ctx, cfg, deps.Logger)
	if err != nil {
		return nil, err
	}
	// A key added to or removed from API_KEYS_FILE signs in, or out, as
	// it does for the stats functions.
	stopKeys := d.keys.Watch(deps.Logger, auth.ReloadEvery)
	return &serve.Function{
		Name:    "dashboard",
		Pages:   d,
		Ready:   d.Ready,
		OpenAPI: openAPI,
		Close: func() {
			stopKeys()
			d.pool.Close()
		},
	}, nil
}

func newDashboard(ctx context.Context, cfg Config, log *slog.Logger) (*Dashboard, error) {
	keys, err := auth.New(cfg.Auth)
	if err != nil {
		return nil, err
	}
	if keys.Disabled() {
		log.Warn("AUTH_DISABLED is on: any key signs in to project \"default\"; use this for local development only")
	} else if keys.Len() == 0 {
		log.Warn("no API keys configured (API_KEYS, API_KEYS_FILE): nobody can sign in")
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	pool, err := stats.OpenPool(ctx, cfg.Postgres, cfg.QueryTimeout)
	if err != nil {
		return nil, err
	}
	d := &Dashboard{
		cfg: cfg, keys: keys, pool: pool, reader: stats.NewReader(pool), log: log, pages: pages,
		sessions: &sessions{pool: pool, keys: keys, ttl: cfg.SessionTTL},
	}
	if err := d.prepare(ctx); err != nil {
		log.Warn("not ready at start; retrying on first use", "error", err)
	}
	return d, nil
}

// prepare migrates the schema and loads the shared secret, once.
func (d *Dashboard) prepare(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prepared {
		return nil
	}
	if err := store.Migrate(ctx, d.pool); err != nil {
		return err
	}
	if err := d.sessions.load(ctx); err != nil {
		return err
	}
	d.prepared = true
	return nil
}

// Ready reports whether PostgreSQL is reachable and the schema ready.
func (d *Dashboard) Ready(ctx context.Context) error {
	if err := d.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return d.prepare(ctx)
}

// ServeHTTP routes the dashboard's paths, relative to the function.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/", "":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			d.serveSignIn(w, r)
		case http.MethodPost:
			d.signIn(w, r)
		default:
			methodNotAllowed(w, "GET, HEAD, POST")
		}
	case "/logout":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		d.signOut(w, r)
	case "/style.css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(styleCSS)
	default:
		v, csv, ok := viewOf(r.URL.Path)
		if !ok {
			d.render(w, r, http.StatusNotFound, &page{Title: "Not found", Message: "No such page.", View: "signin"})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		d.serveView(w, r, v, csv)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

// render writes a page with the headers every page gets: no caching (pages
// hold numbers or a form token), and a Content-Security-Policy that allows
// no script at all and styles from style.css only.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, p *page) {
	if p.Base == "" {
		p.Base = basePath(r)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if err := d.pages.ExecuteTemplate(w, "page", p); err != nil {
		d.log.Error("render page", "error", err)
	}
}

// failed answers a page whose data could not be read: 503 when the
// database is unreachable or the query ran out of time, 500 otherwise.
// The error is logged once, here.
func (d *Dashboard) failed(w http.ResponseWriter, r *http.Request, p *page, err error) {
	d.log.Error("dashboard query failed", "request_id", serve.RequestID(r.Context()), "error", err)
	status, msg := http.StatusInternalServerError, "Something went wrong; the error is logged."
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &pgErr) && pgErr.Code == "57014"):
		status, msg = http.StatusServiceUnavailable, fmt.Sprintf("The query took longer than %s; narrow the range or the filters.", d.cfg.QueryTimeout)
	case store.IsUnavailable(err):
		status, msg = http.StatusServiceUnavailable, "The database is unavailable; retry in a moment."
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	p.Failure = msg
	p.DAU, p.Top, p.Retention, p.FirstRun = nil, nil, nil, nil
	if len(p.Nav) == 0 {
		p.View, p.Title = "signin", "Unavailable"
	}
	d.render(w, r, status, p)
}
