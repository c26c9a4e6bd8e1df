package consume

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"net/http"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/serve"
)

//go:embed openapi.json
var openAPI []byte

// Spec builds the consume-batch function from the environment.
var Spec = serve.NewSpec("consume-batch", New)

// New returns the consume-batch function: POST / drains the durable
// consumer, or stores the CloudEvents it carries (push). With
// CONSUME_CONTINUOUS its Background drains for the process's life; it
// always keeps the rollups caught up with what is stored.
func New(ctx context.Context, cfg Config, deps serve.Deps) (*serve.Function, error) {
	c, err := NewConsumer(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	if cfg.AdminKey == "" {
		deps.Logger.Warn("ADMIN_KEY is not set: anyone who reaches the function can drain the consumer or push events")
	}
	return c.Function(), nil
}

// Function wraps c as a serve.Function.
func (c *Consumer) Function() *serve.Function {
	fn := &serve.Function{
		Name:         "consume-batch",
		Handle:       c.Handle,
		Precheck:     serve.AdminPrecheck(c.cfg.AdminKey),
		MaxBodyBytes: int64(c.cfg.MaxBodyBytes),
		Ready:        c.Ready,
		OpenAPI:      openAPI,
		Close:        c.Close,
		Background:   c.background,
	}
	return fn
}

// Handle serves POST / with the OpenFaaS go-http signature: a push when the
// body is a CloudEvent or a batch, a drain when it is empty (or {}), 415
// otherwise. ADMIN_KEY, when set, was checked already, before the body was
// read (Function's Precheck).
func (c *Consumer) Handle(req handler.Request) (handler.Response, error) {
	ctx := req.Context()
	if req.Method != http.MethodPost {
		resp := serve.Error(event.Errorf(event.CodeMethodNotAllowed, "use POST to drain the consumer or push events"))
		resp.Header.Set("Allow", http.MethodPost)
		return resp, nil
	}
	if isPush(req.Header) {
		if !c.cfg.Push {
			return serve.Error(event.Errorf(event.CodeForbidden, "push delivery is off here (CONSUME_PUSH=false): send events to ingest")), nil
		}
		return c.push(ctx, req), nil
	}
	if !isDrain(req.Body) {
		// Events sent with a content type that is not a CloudEvent mode
		// would be dropped by a drain without a word.
		return serve.Error(event.Errorf(event.CodeUnsupportedMedia,
			"to push events send CloudEvents (ce-* headers, application/cloudevents+json or application/cloudevents-batch+json); to drain, POST an empty body")), nil
	}
	res, err := c.Drain(ctx)
	if err != nil {
		return c.unavailable(err), nil
	}
	return serve.JSON(http.StatusOK, res), nil
}

// unavailable answers 503 for a passing failure and logs it once, here.
func (c *Consumer) unavailable(err error) handler.Response {
	msg := "database unavailable; retry later, nothing is lost or doubled"
	if errors.Is(err, bus.ErrUnavailable) {
		msg = "event stream unavailable; retry later, nothing is lost or doubled"
	}
	c.log.Error("consume unavailable", "error", err)
	return serve.Error(event.Wrap(event.CodeUnavailable, err, msg))
}

// isDrain reports whether body asks for a drain: empty, as schedules and
// connectors send it, or an empty JSON object.
func isDrain(body []byte) bool {
	b := bytes.TrimSpace(body)
	return len(b) == 0 || (b[0] == '{' && len(bytes.TrimSpace(b[1:])) == 1 && b[len(b)-1] == '}')
}
