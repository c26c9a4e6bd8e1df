// Package ingest is the ingest function (contract §4): it authenticates,
// decodes the four body modes, validates each event on its own, applies the
// rate limits, drops duplicates and publishes the rest to JetStream, and
// answers only after the stream acknowledged every accepted event.
package ingest

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/shared/auth"
	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/dedup"
	"github.com/eventfn/eventfn/shared/ratelimit"
	"github.com/eventfn/eventfn/shared/serve"
)

//go:embed openapi.json
var openAPI []byte

// Spec builds the ingest function from the environment.
var Spec = serve.NewSpec("ingest", New)

// New connects to Redis and NATS and returns the ingest function. Neither
// has to be up yet: the function then reports unready and answers 503.
func New(ctx context.Context, cfg Config, deps serve.Deps) (*serve.Function, error) {
	keys, err := auth.New(cfg.Auth)
	if err != nil {
		return nil, err
	}
	if keys.Disabled() {
		deps.Logger.Warn("AUTH_DISABLED is on: every request acts on project \"default\"; use this for local development only")
	} else if keys.Len() == 0 {
		deps.Logger.Warn("no API keys configured (API_KEYS, API_KEYS_FILE): every request will get 401")
	}
	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	// Short timeouts and one retry: a Redis outage must become a quick 503,
	// not a request hanging past the client's patience.
	ropts.DialTimeout, ropts.ReadTimeout, ropts.WriteTimeout, ropts.MaxRetries = 2*time.Second, time.Second, time.Second, 1
	// RESP2: eventfn uses no push notifications, and RESP3's push handling
	// costs a check on every reply on the hot path.
	ropts.Protocol = 2
	// go-redis has one logger per process, plain text on stderr unless
	// set: this function's JSON logger takes its lines (a process serves
	// one ingest).
	redis.SetLogger(redisLog{deps.Logger})
	rdb := redis.NewClient(ropts)
	b, err := bus.Connect(cfg.NATS, "ingest", deps.Logger)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	if err := b.EnsureStreams(ctx); err != nil {
		// Not fatal: publishing ensures the streams once NATS is back.
		deps.Logger.Warn("streams not ensured at start", "error", err)
	}
	stopKeys := keys.Watch(deps.Logger, auth.ReloadEvery)
	in := &Ingest{
		cfg:    cfg,
		keys:   keys,
		bus:    b,
		dedup:  dedup.New(rdb, cfg.RedisPrefix, cfg.DedupWindow),
		limits: ratelimit.New(rdb, cfg.RedisPrefix, ratelimit.Limits{EventsPerSecond: cfg.RateLimitEventsPerSecond, EventsBurst: cfg.RateLimitEventsBurst, RequestsPerMinute: cfg.RateLimitRequestsPerMinute}),
		log:    deps.Logger,
		m:      newMetrics(deps.Registerer),
		cors:   newCORS(cfg.CORSAllowedOrigins),
		now:    time.Now,
	}
	return &serve.Function{
		Handle:       in.Handle,
		Precheck:     in.Precheck,
		MaxBodyBytes: int64(cfg.MaxBodyBytes),
		OpenAPI:      openAPI,
		// A few MB live, a request's body and events allocated per
		// request: at GOGC=100 the collector took a fifth of ingest's CPU;
		// at 400 the bench accepted 8-38 % more (docs/performance.md).
		GCPercent: 400,
		Ready: func(ctx context.Context) error {
			if err := rdb.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("redis (the dedup and rate limit store) at %s: %w", ropts.Addr, err)
			}
			return b.Ready(ctx)
		},
		Close: func() {
			stopKeys()
			b.Close()
			_ = rdb.Close()
		},
	}, nil
}
