package event_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/eventfn/eventfn/shared/event"
)

// fuzzDecode checks what every decoder promises for any input: no panic;
// either a body-level *Error with a code, or one item per event that holds
// an event or an error; every message one clean line; and a valid event
// survives validation without panicking, keeps a non-empty identity, holds
// only text PostgreSQL can store, and comes out of the stream encoding as
// it went in.
func fuzzDecode(t *testing.T, mode event.Mode, h http.Header, body []byte) {
	items, err := event.Decode(mode, h, body)
	if err != nil {
		if event.ErrorCode(err) == event.CodeInternal {
			t.Fatalf("decode error without a code: %v", err)
		}
		checkMessage(t, event.ErrorMessage(err))
		return
	}
	for i, it := range items {
		if (it.Event == nil) == (it.Err == nil) {
			t.Fatalf("item %d: exactly one of event and error must be set", i)
		}
		if it.Event == nil {
			checkMessage(t, event.ErrorMessage(it.Err))
			continue
		}
		verr := event.Validate(it.Event, it.Size, event.DefaultLimits(), time.Now())
		if verr != nil {
			if event.ErrorCode(verr) == event.CodeInternal {
				t.Fatalf("validation error without a code: %v", verr)
			}
			checkMessage(t, event.ErrorMessage(verr))
			continue
		}
		if it.Event.ID() == "" || it.Event.Source() == "" || it.Event.Type() == "" {
			t.Fatalf("item %d valid without identity: %+v", i, it.Event)
		}
		checkStorable(t, it.Event)
		checkRoundTrip(t, it)
	}
}

func checkMessage(t *testing.T, msg string) {
	t.Helper()
	if msg == "" || strings.ContainsAny(msg, "\r\n") || strings.Contains(msg, "error found in") || strings.TrimSpace(msg) != msg {
		t.Fatalf("message is not one clean line: %q", msg)
	}
}

// checkStorable checks, independently of Validate's code, what the
// database would refuse: NUL or non-UTF-8 text, extension values other
// than CloudEvents' string, boolean and int32, and properties that are
// not valid UTF-8 JSON or hold a \u0000 escape.
func checkStorable(t *testing.T, ce *cloudevents.Event) {
	t.Helper()
	for name, v := range map[string]string{
		"id": ce.ID(), "source": ce.Source(), "type": ce.Type(), "subject": ce.Subject(),
		"datacontenttype": ce.DataContentType(), "dataschema": ce.DataSchema(),
	} {
		if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
			t.Fatalf("valid event with unstorable %s %q", name, v)
		}
	}
	for name, v := range ce.Extensions() {
		if !event.ValidAttributeName(name) {
			t.Fatalf("valid event with extension name %q", name)
		}
		switch v := v.(type) {
		case string:
			if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
				t.Fatalf("valid event with unstorable extension %s %q", name, v)
			}
		case bool, int32:
		default:
			t.Fatalf("valid event with extension %s of type %T", name, v)
		}
	}
	if d := ce.Data(); event.HasJSONData(ce) && event.IsProperties(d) {
		if !json.Valid(d) || !utf8.Valid(d) {
			t.Fatalf("valid event with properties that are not UTF-8 JSON: %q", d)
		}
		dec := json.NewDecoder(bytes.NewReader(d))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil || strings.ContainsRune(dumpStrings(v), 0) {
			t.Fatalf("valid event with properties holding NUL: %q", d)
		}
	}
}

// dumpStrings returns every key and string of a decoded JSON value.
func dumpStrings(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			b.WriteString(v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				b.WriteString(k)
				walk(e)
			}
		}
	}
	walk(v)
	return b.String()
}

// checkRoundTrip checks that the event comes out of the stream encoding
// (what consume-batch reads) with everything it went in with.
// checkRoundTrip checks that the consumer reads back the event ingest
// accepted: the stream carries the event's JSON as received when it has
// it, an encoding of it otherwise, and the consumer reads either with
// DecodeJSON, taking the receive time (which Validate set) when none is in it.
func checkRoundTrip(t *testing.T, it event.Item) {
	t.Helper()
	ce := it.Event
	b := it.JSON
	if b == nil {
		var err error
		if b, err = ce.MarshalJSON(); err != nil {
			t.Fatalf("valid but cannot be encoded for the stream: %v", err)
		}
	}
	back, err := event.DecodeJSON(b)
	if err != nil {
		t.Fatalf("valid but its stream encoding cannot be read: %v\n%s", err, b)
	}
	if back.Context.(*cloudevents.EventContextV1).Time == nil {
		back.SetTime(ce.Time())
	}
	if back.ID() != ce.ID() || back.Source() != ce.Source() || back.Type() != ce.Type() ||
		back.Subject() != ce.Subject() || back.DataContentType() != ce.DataContentType() ||
		back.DataSchema() != ce.DataSchema() || !back.Time().Equal(ce.Time()) ||
		!bytes.Equal(back.Data(), ce.Data()) || !reflect.DeepEqual(back.Extensions(), ce.Extensions()) {
		t.Fatalf("changed on the stream:\n in  %+v\n out %+v", ce, back)
	}
}

func seed(f *testing.F, mode event.Mode) {
	for _, tc := range decodeCases {
		if tc.mode == mode {
			f.Add([]byte(tc.body))
		}
	}
	for _, tc := range judgeCases {
		if tc.mode == mode {
			f.Add([]byte(tc.body))
		}
	}
}

func FuzzDecodeStructured(f *testing.F) {
	seed(f, event.ModeStructured)
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"Application/JSON","data":{"a":1}}`))
	f.Fuzz(func(t *testing.T, body []byte) { fuzzDecode(t, event.ModeStructured, header(), body) })
}

func FuzzDecodeBatch(f *testing.F) {
	seed(f, event.ModeBatch)
	f.Fuzz(func(t *testing.T, body []byte) { fuzzDecode(t, event.ModeBatch, header(), body) })
}

func FuzzDecodeSimple(f *testing.F) {
	seed(f, event.ModeSimple)
	f.Fuzz(func(t *testing.T, body []byte) { fuzzDecode(t, event.ModeSimple, header(), body) })
}

func FuzzDecodeBinary(f *testing.F) {
	f.Add("1.0", "id-1", "/src", "t", "application/json", "", []byte(`{"a":1}`))
	f.Add("1.0", "", "/src", "t", "text/plain", "", []byte("x"))
	f.Add("0.3", "id", "%zz", "t", "", "", []byte{0xff})
	// Media types in capitals: the SDK once wrote such data onto the
	// stream in a form it could not read back.
	f.Add("1.0", "id-2", "/src", "t", "Application/JSON; charset=UTF-8", "", []byte(`{"a":1}`))
	f.Add("1.0", "id-3", "/src", "t", "TEXT/JSON", "", []byte(`"s"`))
	// Percent-encoded values, valid and not (taken as sent).
	f.Add("1.0", "order%201", "/shop%20eu", "Order%20Placed", "application/json", "J%C3%BCrgen", []byte(`{"a":1}`))
	f.Add("1.0", "100%", "/%zz", "a%2", "", "%FF%00", []byte("x"))
	for _, tc := range judgeCases {
		if tc.mode == event.ModeBinary {
			h := tc.header
			f.Add(h.Get("Ce-Specversion"), h.Get("Ce-Id"), h.Get("Ce-Source"), h.Get("Ce-Type"), h.Get("Content-Type"),
				h.Get("Ce-Subject")+h.Get("Ce-Myext"), []byte(tc.body))
		}
	}
	f.Fuzz(func(t *testing.T, specversion, id, source, typ, ct, ext string, body []byte) {
		h := http.Header{}
		h.Set("Ce-Specversion", specversion)
		h.Set("Ce-Id", id)
		h.Set("Ce-Source", source)
		h.Set("Ce-Type", typ)
		h.Set("Content-Type", ct)
		if ext != "" {
			h.Set("Ce-Myext", ext)
		}
		fuzzDecode(t, event.ModeBinary, h, body)
	})
}
