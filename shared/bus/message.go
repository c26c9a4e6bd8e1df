package bus

import (
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventfn/eventfn/shared/event"
)

// Headers of an event message besides the CloudEvent itself.
const (
	HeaderProject    = "Eventfn-Project"
	HeaderReceivedAt = "Eventfn-Received-At"
)

// EventMsg encodes ev as a JetStream message: the structured CloudEvent JSON
// as the body, the project and receive time as headers, and the identity key
// as Nats-Msg-Id so the stream itself drops concurrent re-sends.
func EventMsg(subject string, ev *event.Event) (*nats.Msg, error) {
	body, err := ev.CE.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", ev.CE.ID(), err)
	}
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, ev.IdentityKey())
	m.Header.Set(HeaderProject, ev.Project)
	m.Header.Set(HeaderReceivedAt, ev.ReceivedAt.UTC().Format(time.RFC3339Nano))
	return m, nil
}

// DecodeEventMsg reads an event message written by EventMsg. Its error
// means the message can never be stored (poison), not a passing fault.
func DecodeEventMsg(header nats.Header, data []byte) (*event.Event, error) {
	project := header.Get(HeaderProject)
	if project == "" {
		return nil, fmt.Errorf("message has no %s header", HeaderProject)
	}
	ce := cloudevents.New()
	if err := ce.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("decode cloudevent: %w", err)
	}
	if err := ce.Validate(); err != nil {
		return nil, fmt.Errorf("invalid cloudevent: %w", err)
	}
	received := ce.Time()
	if v := header.Get(HeaderReceivedAt); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, fmt.Errorf("bad %s header: %w", HeaderReceivedAt, err)
		}
		received = t
	}
	return &event.Event{Project: project, CE: ce, ReceivedAt: received}, nil
}
