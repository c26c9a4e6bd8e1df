package ingest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
)

// Config is the ingest function's environment.
type Config struct {
	config.Server
	config.Redis
	config.NATS
	config.Auth

	// DedupWindow is how long an accepted identity is reported as a duplicate.
	DedupWindow time.Duration `envconfig:"DEDUP_WINDOW" default:"24h"`
	// MaxEventBytes bounds one event as encoded in the request.
	MaxEventBytes int `envconfig:"MAX_EVENT_BYTES" default:"32768"`
	// MaxBatchEvents bounds the events of one request.
	MaxBatchEvents int `envconfig:"MAX_BATCH_EVENTS" default:"1000"`
	// MaxBodyBytes bounds one request body.
	MaxBodyBytes int `envconfig:"MAX_BODY_BYTES" default:"1048576"`
	// MaxPropertyKeyBytes bounds each key of an event's properties.
	MaxPropertyKeyBytes int `envconfig:"MAX_PROPERTY_KEY_BYTES" default:"128"`
	// MaxFutureSkew is the clock skew tolerated in an event's time.
	MaxFutureSkew time.Duration `envconfig:"MAX_FUTURE_SKEW" default:"24h"`
	// RateLimitEventsPerSecond is each project's sustained event rate; 0 turns it off.
	RateLimitEventsPerSecond int `envconfig:"RATE_LIMIT_EVENTS_PER_SECOND" default:"20000"`
	// RateLimitEventsBurst is the most events a project may send at once;
	// at least MAX_BATCH_EVENTS so the largest request can pass.
	RateLimitEventsBurst int `envconfig:"RATE_LIMIT_EVENTS_BURST" default:"40000"`
	// RateLimitRequestsPerMinute is each client IP's request rate; 0 turns it off.
	RateLimitRequestsPerMinute int `envconfig:"RATE_LIMIT_REQUESTS_PER_MINUTE" default:"60000"`
	// TrustForwardedFor takes the client IP from the right-most
	// X-Forwarded-For entry, the one the nearest proxy appended; right only
	// behind a gateway that appends it (OpenFaaS, Knative, nginx).
	TrustForwardedFor bool `envconfig:"TRUST_FORWARDED_FOR" default:"false"`
	// CORSAllowedOrigins lets browsers send events from these origins
	// (comma-separated, or * for any); empty turns CORS off.
	CORSAllowedOrigins string `envconfig:"CORS_ALLOWED_ORIGINS"`
	// PublishTimeout bounds the wait for the stream's acknowledgements.
	PublishTimeout time.Duration `envconfig:"PUBLISH_TIMEOUT" default:"10s"`
}

// Validate checks every embedded part and the ingest limits.
func (c Config) Validate() error {
	for _, v := range []interface{ Validate() error }{c.Server, c.Redis, c.NATS} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	for name, v := range map[string]int{
		"MAX_EVENT_BYTES": c.MaxEventBytes, "MAX_BATCH_EVENTS": c.MaxBatchEvents,
		"MAX_BODY_BYTES": c.MaxBodyBytes, "MAX_PROPERTY_KEY_BYTES": c.MaxPropertyKeyBytes,
	} {
		if v < 1 {
			return fmt.Errorf("%s must be at least 1, got %d", name, v)
		}
	}
	if c.DedupWindow <= 0 {
		return errors.New("DEDUP_WINDOW must be positive")
	}
	if c.MaxFutureSkew < 0 {
		return errors.New("MAX_FUTURE_SKEW must not be negative")
	}
	if c.PublishTimeout <= 0 {
		return errors.New("PUBLISH_TIMEOUT must be positive")
	}
	if c.RateLimitEventsPerSecond < 0 || c.RateLimitRequestsPerMinute < 0 {
		return errors.New("RATE_LIMIT_EVENTS_PER_SECOND and RATE_LIMIT_REQUESTS_PER_MINUTE must not be negative")
	}
	// A browser's Origin is scheme://host[:port]; anything else never
	// matches and would leave CORS off without a word.
	for _, o := range strings.Split(c.CORSAllowedOrigins, ",") {
		o = strings.TrimSuffix(strings.TrimSpace(o), "/")
		if o == "" || o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("CORS_ALLOWED_ORIGINS entry %q is not an origin like https://app.example.com (or *)", o)
		}
	}
	if c.RateLimitEventsPerSecond > 0 && c.RateLimitEventsBurst < c.MaxBatchEvents {
		return fmt.Errorf("RATE_LIMIT_EVENTS_BURST %d must be at least MAX_BATCH_EVENTS %d, or the largest request could never pass",
			c.RateLimitEventsBurst, c.MaxBatchEvents)
	}
	return nil
}

// Limits returns the event limits of the config.
func (c Config) Limits() event.Limits {
	return event.Limits{
		MaxEventBytes:       c.MaxEventBytes,
		MaxBatchEvents:      c.MaxBatchEvents,
		MaxBodyBytes:        c.MaxBodyBytes,
		MaxPropertyKeyBytes: c.MaxPropertyKeyBytes,
		MaxFutureSkew:       c.MaxFutureSkew,
	}
}
