package event

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	jsoniter "github.com/json-iterator/go"
)

// Mode is how an ingest request body carries its events (contract §4).
type Mode int

// The four body modes.
const (
	ModeBinary Mode = iota + 1
	ModeStructured
	ModeBatch
	ModeSimple
)

func (m Mode) String() string {
	switch m {
	case ModeBinary:
		return "binary"
	case ModeStructured:
		return "structured"
	case ModeBatch:
		return "batch"
	case ModeSimple:
		return "simple"
	}
	return "unknown"
}

// Media types that select a mode.
const (
	MediaStructured = "application/cloudevents+json"
	MediaBatch      = "application/cloudevents-batch+json"
	MediaJSON       = "application/json"
)

// DefaultSimpleSource is the source of simple-JSON events that name none.
const DefaultSimpleSource = "simple"

// DetectMode tells the body mode from the request headers. Any ce-* header
// means binary mode, so a binary request missing ce-specversion is rejected
// for that instead of being read as simple JSON. It returns an *Error with
// CodeUnsupportedMedia when no mode matches.
func DetectMode(h http.Header) (Mode, error) {
	for k := range h {
		if len(k) > 3 && strings.EqualFold(k[:3], "ce-") {
			return ModeBinary, nil
		}
	}
	ct := h.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil && ct != "" {
		return 0, Errorf(CodeUnsupportedMedia, "unsupported content type %q", ct)
	}
	switch mt {
	case MediaStructured:
		return ModeStructured, nil
	case MediaBatch:
		return ModeBatch, nil
	case MediaJSON:
		return ModeSimple, nil
	}
	return 0, Errorf(CodeUnsupportedMedia,
		"unsupported content type %q: send binary mode (ce-* headers), %s, %s or %s", ct, MediaStructured, MediaBatch, MediaJSON)
}

// Rejection names one event of a request that was not taken, by its index
// in the request and its id as far as it could be read, and why; it is
// shown to the client as is.
type Rejection struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
	Error string `json:"error"`
}

// Item is one event of a request as decoded: either an event or the reason
// it could not be read. Size is its encoded size as received.
type Item struct {
	Event *cloudevents.Event
	Size  int
	// ID is the event id as far as it could be read, for error reports.
	ID  string
	Err error
}

// Decode reads every event of body in the given mode. A body that cannot be
// read at all returns an *Error with CodeInvalid; an event that cannot be read
// is an Item with Err set, so that each event is judged on its own. Decode
// does not validate; see Validate.
func Decode(mode Mode, h http.Header, body []byte) ([]Item, error) {
	switch mode {
	case ModeBinary:
		return decodeBinary(h, body)
	case ModeStructured:
		return decodeStructured(body)
	case ModeBatch:
		return decodeBatch(body)
	case ModeSimple:
		return decodeSimple(body)
	}
	return nil, Errorf(CodeUnsupportedMedia, "unsupported body mode")
}

func decodeBinary(h http.Header, body []byte) ([]Item, error) {
	if h.Get("Ce-Specversion") == "" {
		return nil, Errorf(CodeInvalid, "binary mode needs a ce-specversion header")
	}
	size := len(body)
	for k, vs := range h {
		if len(k) > 3 && strings.EqualFold(k[:3], "ce-") {
			for _, v := range vs {
				size += len(k) + len(v)
			}
		}
	}
	msg := cehttp.NewMessage(h, io.NopCloser(bytes.NewReader(body)))
	ev, err := binding.ToEvent(context.Background(), msg)
	if err != nil {
		return []Item{{Size: size, ID: h.Get("Ce-Id"), Err: Errorf(CodeInvalid, "cannot read binary event: %v", err)}}, nil
	}
	return []Item{{Event: ev, Size: size, ID: ev.ID()}}, nil
}

func decodeStructured(body []byte) ([]Item, error) {
	if !looksLikeObject(body) {
		return nil, Errorf(CodeInvalid, "body must be one JSON object (a structured CloudEvent)")
	}
	return []Item{decodeOne(body)}, nil
}

func decodeBatch(body []byte) ([]Item, error) {
	// One pass splits the array into its elements; each element is then
	// read once by the SDK. encoding/json would scan every byte twice more.
	if !looksLikeArray(body) {
		return nil, Errorf(CodeInvalid, "body must be a JSON array of CloudEvents")
	}
	iter := jsoniter.ConfigFastest.BorrowIterator(body)
	defer jsoniter.ConfigFastest.ReturnIterator(iter)
	var items []Item
	for iter.ReadArray() {
		raw := iter.SkipAndReturnBytes()
		if iter.Error != nil {
			break
		}
		items = append(items, decodeOne(raw))
	}
	if iter.Error != nil && iter.Error != io.EOF {
		return nil, Errorf(CodeInvalid, "body must be a JSON array of CloudEvents: %v", iter.Error)
	}
	if iter.WhatIsNext() != jsoniter.InvalidValue {
		return nil, Errorf(CodeInvalid, "body must be a JSON array of CloudEvents: data after the array")
	}
	return items, nil
}

func decodeOne(raw []byte) Item {
	it := Item{Size: len(raw)}
	if !looksLikeObject(raw) {
		it.Err = Errorf(CodeInvalid, "event must be a JSON object")
		return it
	}
	ev := cloudevents.New()
	if err := ev.UnmarshalJSON(raw); err != nil {
		it.ID = peekID(raw)
		it.Err = Errorf(CodeInvalid, "cannot read event: %v", err)
		return it
	}
	it.Event, it.ID = &ev, ev.ID()
	return it
}

// peekID recovers the id of an event the SDK could not read, so the
// rejection can name it.
func peekID(raw []byte) string {
	var v struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	if s, ok := v.ID.(string); ok {
		return s
	}
	return ""
}

func looksLikeArray(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '['
}

func looksLikeObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

// simpleEvent is the simple-JSON body's event, Segment-like.
type simpleEvent struct {
	EventID    flexString      `json:"event_id"`
	EventType  string          `json:"event_type"`
	UserID     flexString      `json:"user_id"`
	Timestamp  string          `json:"timestamp"`
	Properties json.RawMessage `json:"properties"`
	Source     string          `json:"source"`
}

// flexString accepts a JSON string or number, as ids often come as numbers.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return Errorf(CodeInvalid, "must be a string or a number")
	}
	*f = flexString(n.String())
	return nil
}

func decodeSimple(body []byte) ([]Item, error) {
	var env struct {
		Events []json.RawMessage `json:"events"`
	}
	if !looksLikeObject(body) {
		return nil, Errorf(CodeInvalid, `body must be a JSON object {"events": [...]}`)
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, Errorf(CodeInvalid, `body must be a JSON object {"events": [...]}: %v`, err)
	}
	if env.Events == nil {
		return nil, Errorf(CodeInvalid, `body has no "events" array`)
	}
	items := make([]Item, len(env.Events))
	for i, raw := range env.Events {
		items[i] = decodeSimpleOne(raw)
	}
	return items, nil
}

func decodeSimpleOne(raw []byte) Item {
	it := Item{Size: len(raw)}
	var se simpleEvent
	if !looksLikeObject(raw) {
		it.Err = Errorf(CodeInvalid, "event must be a JSON object")
		return it
	}
	if err := json.Unmarshal(raw, &se); err != nil {
		it.Err = Errorf(CodeInvalid, "cannot read event: %v", err)
		return it
	}
	it.ID = string(se.EventID)
	if se.EventID == "" {
		it.Err = Errorf(CodeInvalid, "event_id is required")
		return it
	}
	if se.EventType == "" {
		it.Err = Errorf(CodeInvalid, "event_type is required")
		return it
	}
	ev := cloudevents.New()
	ev.SetID(string(se.EventID))
	ev.SetType(se.EventType)
	source := se.Source
	if source == "" {
		source = DefaultSimpleSource
	}
	ev.SetSource(source)
	if se.UserID != "" {
		ev.SetSubject(string(se.UserID))
	}
	if se.Timestamp != "" {
		t, err := parseTimestamp(se.Timestamp)
		if err != nil {
			it.Err = Errorf(CodeInvalid, "timestamp %q is not RFC 3339", se.Timestamp)
			return it
		}
		ev.SetTime(t)
	}
	props := bytes.TrimSpace(se.Properties)
	if len(props) > 0 && string(props) != "null" {
		if props[0] != '{' {
			it.Err = Errorf(CodeInvalid, "properties must be a JSON object")
			return it
		}
		ev.SetDataContentType(MediaJSON)
		ev.DataEncoded = props
	}
	it.Event = &ev
	return it
}

func parseTimestamp(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}
