package ingest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/eventfn/eventfn/shared/auth"
	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/dedup"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/ratelimit"
	"github.com/eventfn/eventfn/shared/serve"
)

// retryAfterUnavailable is the Retry-After of a 503: long enough for a
// broker or Redis failover, short enough not to pile up client backlog.
const retryAfterUnavailable = "2"

// Ingest handles ingest requests.
type Ingest struct {
	cfg    Config
	keys   *auth.Keys
	bus    *bus.Bus
	dedup  *dedup.Store
	limits *ratelimit.Limiter
	log    *slog.Logger
	m      *metrics
	cors   cors
	now    func() time.Time
}

// Result is the body of a 202, 207 or 400 answer.
type Result struct {
	Accepted   int               `json:"accepted"`
	Duplicates int               `json:"duplicates"`
	Rejected   []event.Rejection `json:"rejected"`
	// Error is set on a 400, when every event was rejected.
	Error string `json:"error,omitempty"`
}

// Handle serves POST /. It has the OpenFaaS go-http signature.
func (in *Ingest) Handle(req handler.Request) (handler.Response, error) {
	resp, err := in.handle(req)
	in.cors.apply(req, &resp)
	return resp, err
}

// Precheck refuses a POST without a valid write key before its body is
// read, so such a client gets 401 (or 403) whatever the body's size.
func (in *Ingest) Precheck(req handler.Request) *handler.Response {
	if req.Method != http.MethodPost {
		return nil
	}
	if _, err := in.keys.Authorize(req.Header, auth.RoleWrite); err != nil {
		resp := serve.Error(err)
		in.cors.apply(req, &resp)
		return &resp
	}
	return nil
}

func (in *Ingest) handle(req handler.Request) (handler.Response, error) {
	ctx := req.Context()
	if req.Method == http.MethodOptions && in.cors.enabled() {
		return handler.Response{StatusCode: http.StatusNoContent, Header: http.Header{}}, nil
	}
	if req.Method != http.MethodPost {
		resp := serve.Error(event.Errorf(event.CodeMethodNotAllowed, "use POST to send events"))
		resp.Header.Set("Allow", http.MethodPost)
		return resp, nil
	}
	// Auth first: it is cheap, and an unauthenticated client must learn
	// that before anything else (Precheck does the same before the body
	// is read).
	who, err := in.keys.Authorize(req.Header, auth.RoleWrite)
	if err != nil {
		return serve.Error(err), nil
	}
	ipDecision, err := in.limits.AllowRequest(ctx, in.clientIP(ctx, req.Header))
	if err != nil {
		return in.unavailable(err), nil
	}
	if ipDecision != nil && !ipDecision.Allowed {
		return rateLimited(ipDecision, "too many requests from this client"), nil
	}
	mode, err := event.DetectMode(req.Header)
	if err != nil {
		return serve.Error(err), nil
	}
	items, err := event.Decode(mode, req.Header, req.Body)
	if err != nil {
		return serve.Error(err), nil
	}
	if len(items) > in.cfg.MaxBatchEvents {
		in.m.events.WithLabelValues("failed").Add(float64(len(items)))
		return serve.Error(event.Errorf(event.CodeTooLarge,
			"request has %d events, over the limit of %d; nothing was accepted", len(items), in.cfg.MaxBatchEvents)), nil
	}
	if len(items) == 0 {
		return serve.Error(event.Errorf(event.CodeInvalid, "request has no events")), nil
	}
	evDecision, err := in.limits.AllowEvents(ctx, who.Project, len(items))
	if err != nil {
		return in.unavailable(err), nil
	}
	if evDecision != nil && !evDecision.Allowed {
		in.m.events.WithLabelValues("failed").Add(float64(len(items)))
		return rateLimited(evDecision, "project event rate exceeded"), nil
	}

	res, err := in.accept(ctx, who.Project, items)
	if err != nil {
		in.m.events.WithLabelValues("failed").Add(float64(len(items)))
		return in.unavailable(err), nil
	}
	in.m.events.WithLabelValues("accepted").Add(float64(res.Accepted))
	in.m.events.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	in.m.events.WithLabelValues("rejected").Add(float64(len(res.Rejected)))

	status := http.StatusAccepted
	switch {
	case len(res.Rejected) == 0:
	case res.Accepted+res.Duplicates > 0:
		status = http.StatusMultiStatus
	default:
		status = http.StatusBadRequest
		res.Error = "every event was rejected"
	}
	resp := serve.JSON(status, res)
	setRateHeaders(resp.Header, firstNonNil(evDecision, ipDecision))
	return resp, nil
}

// accept validates items and stores the valid, new ones on the stream. An
// error means nothing may be reported as accepted: the client must retry
// the whole request, and identity keeps that retry from doubling anything.
func (in *Ingest) accept(ctx context.Context, project string, items []event.Item) (Result, error) {
	now := in.now().UTC()
	limits := in.cfg.Limits()
	res := Result{Rejected: []event.Rejection{}}

	// Unique identities of the valid events, first occurrence wins; a
	// repeat inside the request is a duplicate of it.
	events := make([]*event.Event, 0, len(items))
	keys := make([]string, 0, len(items))
	index := make(map[string]bool, len(items))
	for i, it := range items {
		if it.Err == nil {
			it.Err = event.Validate(it.Event, it.Size, limits, now)
		}
		if it.Err != nil {
			res.Rejected = append(res.Rejected, event.Rejection{Index: i, ID: it.ID, Error: event.ErrorMessage(it.Err)})
			continue
		}
		ev := &event.Event{Project: project, CE: *it.Event, ReceivedAt: now, JSON: it.JSON}
		key := ev.IdentityKey()
		if index[key] {
			res.Duplicates++
			continue
		}
		index[key] = true
		events = append(events, ev)
		keys = append(keys, key)
	}
	if len(events) == 0 {
		return res, nil
	}

	seen, err := in.dedup.Seen(ctx, keys)
	if err != nil {
		return Result{}, err
	}
	recs := make([]event.Record, 0, len(events))
	pubKeys := make([]string, 0, len(events))
	for i, ev := range events {
		if seen[i] {
			res.Duplicates++
			continue
		}
		rec, err := event.ToRecord(ev)
		if err != nil {
			return Result{}, err
		}
		recs = append(recs, rec)
		pubKeys = append(pubKeys, keys[i])
	}
	if len(recs) == 0 {
		return res, nil
	}
	// The request's events travel together: one stream message (or a few,
	// within the server's payload limit) instead of one each, which costs
	// the broker and the consumer per message, not per event.
	msgs := bus.RecordsMsgs(in.bus.EventsSubject(project), recs, pubKeys, in.bus.MaxRecordsBytes())
	pubCtx, cancel := context.WithTimeout(ctx, in.cfg.PublishTimeout)
	defer cancel()
	start := time.Now()
	if _, err := in.bus.PublishAll(pubCtx, msgs); err != nil {
		return Result{}, err
	}
	in.m.publish.Observe(time.Since(start).Seconds())
	// Every message is on the stream now. Claiming decides which request
	// reports it as accepted: of concurrent senders of one event exactly one
	// does. A stream-level duplicate whose earlier publish was never reported
	// accepted (its request got a 503) is claimed here and so counts as
	// accepted, which is what its sender was told to expect on retry.
	claimed, err := in.dedup.Claim(ctx, pubKeys)
	if err != nil {
		return Result{}, err
	}
	for _, c := range claimed {
		if c {
			res.Accepted++
		} else {
			res.Duplicates++
		}
	}
	return res, nil
}

func (in *Ingest) unavailable(err error) handler.Response {
	msg := "temporarily unavailable; retry the whole request"
	switch {
	case errors.Is(err, bus.ErrUnavailable):
		msg = "event stream unavailable; retry the whole request, nothing is lost or doubled"
	case errors.Is(err, dedup.ErrUnavailable):
		msg = "dedup store (Redis) unavailable; retry the whole request, nothing is lost or doubled"
	case errors.Is(err, ratelimit.ErrUnavailable):
		msg = "rate limit store (Redis) unavailable; retry the whole request, nothing was accepted"
	}
	in.log.Error("ingest unavailable", "error", err)
	resp := serve.Error(event.Wrap(event.CodeUnavailable, err, msg))
	resp.Header.Set("Retry-After", retryAfterUnavailable)
	return resp
}

// clientIP is the address the per-IP limit counts against. Behind a
// gateway it is the right-most X-Forwarded-For entry: the one the nearest
// proxy appended. Entries to its left come from the client and could be
// anything, so they never choose the bucket.
func (in *Ingest) clientIP(ctx context.Context, h http.Header) string {
	if in.cfg.TrustForwardedFor {
		if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
				return ip.String()
			}
		}
	}
	return serve.ClientIP(ctx)
}

func rateLimited(d *ratelimit.Decision, msg string) handler.Response {
	resp := serve.Error(event.Errorf(event.CodeRateLimited, "%s; retry after %s s, nothing was accepted", msg, serve.RetryAfterSeconds(d.RetryAfter)))
	resp.Header.Set("Retry-After", serve.RetryAfterSeconds(d.RetryAfter))
	setRateHeaders(resp.Header, d)
	return resp
}

func setRateHeaders(h http.Header, d *ratelimit.Decision) {
	if d == nil {
		return
	}
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(d.Remaining, 0)))
	reset := "0"
	if d.ResetAfter > 0 {
		reset = serve.RetryAfterSeconds(d.ResetAfter)
	}
	h.Set("RateLimit-Reset", reset)
}

func firstNonNil(ds ...*ratelimit.Decision) *ratelimit.Decision {
	for _, d := range ds {
		if d != nil {
			return d
		}
	}
	return nil
}
