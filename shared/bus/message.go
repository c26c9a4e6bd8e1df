package bus

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventfn/eventfn/shared/event"
)

// Headers of an event message besides its body.
const (
	HeaderProject    = "Eventfn-Project"
	HeaderReceivedAt = "Eventfn-Received-At"
	// HeaderFormat names the body's encoding: event.RecordsFormat for
	// many events in one message; absent for one CloudEvent as JSON, the
	// format of earlier versions, still read.
	HeaderFormat = "Eventfn-Format"
	// HeaderEvents is how many events a records message holds.
	HeaderEvents = "Eventfn-Events"
)

// RecordsMsg returns the message carrying recs, all of one project, on
// subject. Its message id is derived from the records' identities (MsgID),
// so the stream drops a retry of the same request within its duplicate
// window; a retry that carries another set of events is stored again, and
// identity keeps each event stored once.
func RecordsMsg(subject string, recs []event.Record, keys []string) *nats.Msg {
	// Sized once: growing a request's encoding cost ingest more than
	// writing it.
	size := 16
	for i := range recs {
		size += recordSize(&recs[i])
	}
	return &nats.Msg{Subject: subject, Data: event.EncodeRecords(make([]byte, 0, size), recs), Header: nats.Header{
		jetstream.MsgIDHeader: {MsgID(keys)},
		HeaderProject:         {recs[0].Project},
		HeaderFormat:          {event.RecordsFormat},
		HeaderEvents:          {fmt.Sprint(len(recs))},
	}}
}

// RecordsMsgs returns the messages that carry recs (with identity keys
// keys), all of one project, on subject: as few as the server's maximum
// payload allows, each at most maxBytes of records.
func RecordsMsgs(subject string, recs []event.Record, keys []string, maxBytes int) []*nats.Msg {
	var msgs []*nats.Msg
	start, size := 0, 0
	for i := range recs {
		n := recordSize(&recs[i])
		if i > start && size+n > maxBytes {
			msgs = append(msgs, RecordsMsg(subject, recs[start:i], keys[start:i]))
			start, size = i, 0
		}
		size += n
	}
	return append(msgs, RecordsMsg(subject, recs[start:], keys[start:]))
}

// recordSize bounds the encoded size of r.
func recordSize(r *event.Record) int {
	return 64 + len(r.Source) + len(r.ID) + len(r.Type) + len(r.Subject) + len(r.DataContentType) +
		len(r.DataSchema) + len(r.Props) + len(r.Data) + len(r.Extensions)
}

// MsgID returns the message id of a message holding the events whose
// identity keys are keys, in any order.
func MsgID(keys []string) string {
	if len(keys) == 1 {
		return keys[0]
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	h := sha256.New()
	for _, k := range sorted {
		h.Write([]byte(k))
	}
	return "m" + hex.EncodeToString(h.Sum(nil)[:16])
}

// DecodeMsg reads the events of a message of either format. Its error
// means the message can never be stored (poison), not a passing fault.
// stamped is when the stream took the message: the receive time of a
// one-event message that carries none, and then the time of an event that
// has none (ingest gives every event a time; a hand-made or very old
// message may lack both).
func DecodeMsg(header nats.Header, data []byte, stamped time.Time) ([]event.Record, error) {
	if f := header.Get(HeaderFormat); f != "" {
		if f != event.RecordsFormat {
			return nil, fmt.Errorf("unknown message format %q", f)
		}
		project := header.Get(HeaderProject)
		if project == "" {
			return nil, fmt.Errorf("message has no %s header", HeaderProject)
		}
		return event.DecodeRecords(data, project)
	}
	ev, err := DecodeEventMsg(header, data)
	if err != nil {
		return nil, err
	}
	if header.Get(HeaderReceivedAt) == "" {
		ev.ReceivedAt = stamped
	}
	// Presence is asked of the context: Time() is zero for
	// 0001-01-01T00:00:00Z too.
	if ec, ok := ev.CE.Context.(*cloudevents.EventContextV1); ok && ec.Time == nil {
		ev.CE.SetTime(ev.ReceivedAt)
	}
	rec, err := event.ToRecord(ev)
	if err != nil {
		return nil, err
	}
	return []event.Record{rec}, nil
}

// EventMsg encodes ev as a one-event message, the format of earlier
// versions that consume-batch still reads: the structured CloudEvent JSON
// as the body (ev.JSON, as it was received, when set), the project and
// receive time as headers, and the identity key as Nats-Msg-Id.
func EventMsg(subject string, ev *event.Event) (*nats.Msg, error) {
	body := ev.JSON
	if body == nil {
		var err error
		if body, err = ev.CE.MarshalJSON(); err != nil {
			return nil, fmt.Errorf("encode event %q: %w", ev.CE.ID(), err)
		}
	}
	return oneEventMsg(subject, ev.Project, ev.ReceivedAt, ev.IdentityKey(), body), nil
}

// RecordMsg encodes one record as a one-event message (EventMsg's format),
// readable by a person: how a dead-lettered event is kept, and replayed.
func RecordMsg(subject string, rec *event.Record) (*nats.Msg, error) {
	body, err := rec.StructuredJSON()
	if err != nil {
		return nil, err
	}
	return oneEventMsg(subject, rec.Project, rec.ReceivedAt, rec.IdentityKey(), body), nil
}

func oneEventMsg(subject, project string, received time.Time, key string, body []byte) *nats.Msg {
	return &nats.Msg{Subject: subject, Data: body, Header: nats.Header{
		jetstream.MsgIDHeader: {key},
		HeaderProject:         {project},
		HeaderReceivedAt:      {received.UTC().Format(time.RFC3339Nano)},
	}}
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
