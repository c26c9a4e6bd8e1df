// Package ratelimit enforces eventfn's ingest limits with GCRA in Redis
// (go-redis/redis_rate), so every replica shares one budget: events per
// second per project, and requests per minute per client IP.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// ErrUnavailable wraps every failure to reach Redis.
var ErrUnavailable = errors.New("rate limit store unavailable")

// Decision is the outcome of one check, with what the RateLimit-* headers
// report. GCRA is a bucket of Limit units that refills at the configured
// rate; Remaining is what is left in it now, so never more than Limit.
type Decision struct {
	Allowed bool
	// Limit is the bucket's size: the burst, the most that can pass at once.
	Limit     int
	Remaining int
	// RetryAfter is how long to wait before the same request can pass.
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again, Remaining
	// back at Limit.
	ResetAfter time.Duration
}

// Limits configures the limiter; a zero rate turns that limit off.
type Limits struct {
	EventsPerSecond int
	// EventsBurst is the most events one project may send at once; it must
	// hold the largest request, or such a request could never pass.
	EventsBurst       int
	RequestsPerMinute int
}

// Limiter checks both limits.
type Limiter struct {
	lim    *redis_rate.Limiter
	prefix string
	limits Limits
}

// New returns a Limiter keeping its state under prefix+"rl:".
func New(rdb redis.UniversalClient, prefix string, limits Limits) *Limiter {
	return &Limiter{lim: redis_rate.NewLimiter(rdb), prefix: prefix + "rl:", limits: limits}
}

// AllowEvents takes n events from the project's budget, all or none.
// A nil Decision means the limit is off.
func (l *Limiter) AllowEvents(ctx context.Context, project string, n int) (*Decision, error) {
	if l.limits.EventsPerSecond <= 0 {
		return nil, nil
	}
	burst := max(l.limits.EventsBurst, l.limits.EventsPerSecond)
	return l.allow(ctx, "ev:"+project, redis_rate.Limit{Rate: l.limits.EventsPerSecond, Burst: burst, Period: time.Second}, n)
}

// AllowRequest takes one request from the client IP's budget. A nil
// Decision means the limit is off.
func (l *Limiter) AllowRequest(ctx context.Context, ip string) (*Decision, error) {
	if l.limits.RequestsPerMinute <= 0 {
		return nil, nil
	}
	return l.allow(ctx, "ip:"+ip, redis_rate.PerMinute(l.limits.RequestsPerMinute), 1)
}

func (l *Limiter) allow(ctx context.Context, key string, limit redis_rate.Limit, n int) (*Decision, error) {
	res, err := l.lim.AllowN(ctx, l.prefix+key, limit, n)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	d := &Decision{
		Allowed:    res.Allowed > 0,
		Limit:      limit.Burst,
		Remaining:  res.Remaining,
		RetryAfter: res.RetryAfter,
		ResetAfter: res.ResetAfter,
	}
	if !d.Allowed && d.RetryAfter < 0 {
		// More than the burst: it can never pass; say so with a full period.
		d.RetryAfter = limit.Period
	}
	return d, nil
}
