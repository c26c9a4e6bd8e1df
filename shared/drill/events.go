package drill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// mode is one of ingest's four body modes (contract §4).
type mode uint8

const (
	modeBatch mode = iota
	modeSimple
	modeStructured
	modeBinary
)

var modeNames = [...]string{"batch", "simple", "structured", "binary"}

// modeCycle is the order requests take their modes in: mostly the two
// batch modes, which carry many events each, and one of each single-event
// mode in every cycle.
var modeCycle = []mode{modeBatch, modeSimple, modeBatch, modeSimple, modeBatch, modeSimple, modeStructured, modeBinary}

// source is the CloudEvents source of events sent in mode m: identity is
// (project, source, id), so the modes never share an identity.
func (m mode) source() string { return "drill/" + modeNames[m] }

// eventTypes are the event types the drill sends.
var eventTypes = []string{"page_view", "signup", "search", "add_to_cart", "checkout", "purchase", "logout", "share"}

// eventSet derives every attribute of event i from i and a seed, so that
// the client keeps only which requests were answered, and the independent
// count of the stats is recomputed from the indices.
type eventSet struct {
	seed  uint64
	first time.Time // midnight UTC of the first day
	days  int
	users int
}

func (s *eventSet) hash(i int) uint64 {
	// splitmix64
	z := s.seed + uint64(i)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// attrs returns event i's subject ("" for an anonymous event), type and
// time.
func (s *eventSet) attrs(i int) (subject, typ string, t time.Time) {
	h := s.hash(i)
	if h%16 != 0 {
		subject = "u" + strconv.FormatUint((h>>8)%uint64(s.users), 10)
	}
	typ = eventTypes[(h>>24)%uint64(len(eventTypes))]
	t = s.first.Add(time.Duration((h>>32)%uint64(s.days*86400)) * time.Second)
	return subject, typ, t
}

func eventID(i int) string { return "e" + strconv.Itoa(i) }

// cloudEvent is the JSON form of one event in the structured and batch
// modes.
type cloudEvent struct {
	SpecVersion     string         `json:"specversion"`
	ID              string         `json:"id"`
	Source          string         `json:"source"`
	Type            string         `json:"type"`
	Subject         string         `json:"subject,omitempty"`
	Time            string         `json:"time"`
	DataContentType string         `json:"datacontenttype"`
	Data            map[string]any `json:"data"`
}

// simpleEvent is one event of the simple JSON mode.
type simpleEvent struct {
	EventID    string         `json:"event_id"`
	EventType  string         `json:"event_type"`
	UserID     string         `json:"user_id,omitempty"`
	Timestamp  string         `json:"timestamp"`
	Properties map[string]any `json:"properties"`
	Source     string         `json:"source"`
}

func (s *eventSet) props(i int) map[string]any {
	plan := "free"
	if s.hash(i)%3 == 0 {
		plan = "pro"
	}
	return map[string]any{"i": i, "plan": plan}
}

func (s *eventSet) cloudEvent(i int, m mode) cloudEvent {
	subject, typ, t := s.attrs(i)
	return cloudEvent{SpecVersion: "1.0", ID: eventID(i), Source: m.source(), Type: typ, Subject: subject,
		Time: t.Format(time.RFC3339), DataContentType: "application/json", Data: s.props(i)}
}

// encode returns the body and headers of one ingest request carrying
// events [lo, hi) in mode m.
func (s *eventSet) encode(m mode, lo, hi int) ([]byte, http.Header, error) {
	h := http.Header{}
	var v any
	switch m {
	case modeBatch:
		evs := make([]cloudEvent, 0, hi-lo)
		for i := lo; i < hi; i++ {
			evs = append(evs, s.cloudEvent(i, m))
		}
		h.Set("Content-Type", "application/cloudevents-batch+json")
		v = evs
	case modeSimple:
		evs := make([]simpleEvent, 0, hi-lo)
		for i := lo; i < hi; i++ {
			subject, typ, t := s.attrs(i)
			evs = append(evs, simpleEvent{EventID: eventID(i), EventType: typ, UserID: subject,
				Timestamp: t.Format(time.RFC3339), Properties: s.props(i), Source: m.source()})
		}
		h.Set("Content-Type", "application/json")
		v = map[string]any{"events": evs}
	case modeStructured:
		if hi-lo != 1 {
			return nil, nil, fmt.Errorf("structured mode carries one event, not %d", hi-lo)
		}
		h.Set("Content-Type", "application/cloudevents+json")
		v = s.cloudEvent(lo, m)
	case modeBinary:
		if hi-lo != 1 {
			return nil, nil, fmt.Errorf("binary mode carries one event, not %d", hi-lo)
		}
		subject, typ, t := s.attrs(lo)
		h.Set("ce-specversion", "1.0")
		h.Set("ce-id", eventID(lo))
		h.Set("ce-source", m.source())
		h.Set("ce-type", typ)
		if subject != "" {
			h.Set("ce-subject", subject)
		}
		h.Set("ce-time", t.Format(time.RFC3339))
		h.Set("Content-Type", "application/json")
		v = s.props(lo)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), h, nil
}
