package bus

import (
	"fmt"
	"time"

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
// as the body (ev.JSON, as it was received, when set), the project and
// receive time as headers, and the identity key as Nats-Msg-Id so the
// stream itself drops concurrent re-sends.
func EventMsg(subject string, ev *event.Event) (*nats.Msg, error) {
	return NewMsgs(subject, ev.Project, ev.ReceivedAt).Msg(ev, ev.IdentityKey())
}

// Msgs encodes the events of one project received at one time, as ingest
// accepts a request: the header values they share are made once.
type Msgs struct {
	subject           string
	project, received []string
}

// NewMsgs returns the encoder of project's events received at receivedAt
// for subject.
func NewMsgs(subject, project string, receivedAt time.Time) *Msgs {
	return &Msgs{subject: subject, project: []string{project}, received: []string{receivedAt.UTC().Format(time.RFC3339Nano)}}
}

// Msg encodes ev, whose identity key is key, as EventMsg does; ev's project
// and receive time must be those of m.
func (m *Msgs) Msg(ev *event.Event, key string) (*nats.Msg, error) {
	body := ev.JSON
	if body == nil {
		var err error
		if body, err = ev.CE.MarshalJSON(); err != nil {
			return nil, fmt.Errorf("encode event %q: %w", ev.CE.ID(), err)
		}
	}
	// The client only reads a message's headers, so the shared values
	// serve every message.
	return &nats.Msg{Subject: m.subject, Data: body, Header: nats.Header{
		jetstream.MsgIDHeader: {key},
		HeaderProject:         m.project,
		HeaderReceivedAt:      m.received,
	}}, nil
}

// DecodeEventMsg reads an event message written by EventMsg. Its error
// means the message can never be stored (poison), not a passing fault.
func DecodeEventMsg(header nats.Header, data []byte) (*event.Event, error) {
	project := header.Get(HeaderProject)
	if project == "" {
		return nil, fmt.Errorf("message has no %s header", HeaderProject)
	}
	// Read as ingest read it, so that a message carrying the event as it
	// was sent (Event.JSON) gives back the event ingest accepted.
	ce, err := event.DecodeJSON(data)
	if err != nil {
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
	return &event.Event{Project: project, CE: *ce, ReceivedAt: received}, nil
}
