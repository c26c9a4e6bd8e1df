package consume

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/eventfn/eventfn/shared/auth"
	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/serve"
)

// ExtensionProject is the CloudEvents extension attribute that names a
// pushed event's project. It survives brokers and channels (binary mode
// sends it as the ce-eventfnproject header), wins over the request's
// Eventfn-Project header, and is removed before the event is stored: it is
// routing, not part of the event.
const ExtensionProject = "eventfnproject"

// PushResult is the answer to a push request.
type PushResult struct {
	// Consumed counts events stored now or before: Inserted + Duplicates.
	Consumed   int               `json:"consumed"`
	Inserted   int               `json:"inserted"`
	Duplicates int               `json:"duplicates"`
	Rejected   []event.Rejection `json:"rejected"`
	// Error is set on a 400, when every event was rejected.
	Error string `json:"error,omitempty"`
}

// isPush tells a push request (a CloudEvent in binary or structured mode,
// or a batch) from a drain request (anything else: an empty body from a
// schedule, a person's POST).
func isPush(h http.Header) bool {
	mode, err := event.DetectMode(h)
	return err == nil && mode != event.ModeSimple
}

// push stores the events of a push request synchronously, the way pulled
// ones are: at most once by identity, counted by stats as soon as the
// answer is sent. It
// answers 200 when every event is stored (some may be duplicates), 207 when
// some are rejected, 400 when all are, and 503 (retry the request; nothing
// is doubled) when the database is unavailable.
func (c *Consumer) push(ctx context.Context, req handler.Request) handler.Response {
	mode, err := event.DetectMode(req.Header)
	if err != nil {
		return serve.Error(err)
	}
	items, err := event.Decode(mode, req.Header, req.Body)
	if err != nil {
		return serve.Error(err)
	}
	if len(items) == 0 {
		return serve.Error(event.Errorf(event.CodeInvalid, "request has no events"))
	}
	now := time.Now().UTC()
	res := PushResult{Rejected: []event.Rejection{}}
	recs := make([]event.Record, 0, len(items))
	at := make([]int, 0, len(items))
	for i, it := range items {
		ev, err := c.pushed(it, req.Header.Get(bus.HeaderProject), now)
		var rec event.Record
		if err == nil {
			rec, err = event.ToRecord(ev)
		}
		if err != nil {
			res.Rejected = append(res.Rejected, event.Rejection{Index: i, ID: it.ID, Error: event.ErrorMessage(err)})
			continue
		}
		recs = append(recs, rec)
		at = append(at, i)
	}
	if len(recs) > 0 {
		// Push needs the database only: it works while NATS is down.
		if err := c.migrate(ctx); err != nil {
			return c.unavailable(err)
		}
		w := c.write(ctx, recs)
		if w.err != nil {
			return c.unavailable(w.err)
		}
		for j, bad := range w.bad {
			if bad != nil {
				res.Rejected = append(res.Rejected, event.Rejection{Index: at[j], ID: recs[j].ID, Error: event.ErrorMessage(bad)})
			}
		}
		res.Inserted, res.Duplicates = w.inserted, w.duplicates
		res.Consumed = w.inserted + w.duplicates
		if w.inserted > 0 && c.nudge != nil {
			c.nudge()
		}
	}
	c.m.pushed.WithLabelValues("inserted").Add(float64(res.Inserted))
	c.m.pushed.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	c.m.pushed.WithLabelValues("rejected").Add(float64(len(res.Rejected)))
	slices.SortStableFunc(res.Rejected, func(a, b event.Rejection) int { return cmp.Compare(a.Index, b.Index) })
	status := http.StatusOK
	switch {
	case len(res.Rejected) == 0:
	case res.Consumed > 0:
		status = http.StatusMultiStatus
	default:
		status = http.StatusBadRequest
		res.Error = "every event was rejected"
	}
	return serve.JSON(status, res)
}

// pushed turns one decoded item of a push request into an event of its
// project, or says why it cannot be stored.
func (c *Consumer) pushed(it event.Item, headerProject string, now time.Time) (*event.Event, error) {
	if it.Err != nil {
		return nil, it.Err
	}
	ce := it.Event.Clone()
	project := headerProject
	if v, ok := ce.Extensions()[ExtensionProject]; ok {
		s, isString := v.(string)
		if !isString {
			return nil, event.Errorf(event.CodeInvalid, "extension %s must be a string", ExtensionProject)
		}
		project = s
		ce.SetExtension(ExtensionProject, nil)
	}
	if project == "" {
		return nil, event.Errorf(event.CodeInvalid, "no project: set the %s extension attribute or the %s header", ExtensionProject, bus.HeaderProject)
	}
	if !auth.ValidProject(project) {
		return nil, event.Errorf(event.CodeInvalid, "project %q is not a valid project name", project)
	}
	ev := &event.Event{Project: project, CE: ce, ReceivedAt: now}
	if err := storable(ev, c.cfg.MaxFutureSkew); err != nil {
		return nil, err
	}
	return ev, nil
}
