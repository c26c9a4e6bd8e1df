package event_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/eventfn/eventfn/shared/event"
)

// fuzzDecode checks what every decoder promises for any input: no panic;
// either a body-level *Error with a code, or one item per event that holds
// an event or an error; and a valid event survives validation without
// panicking and keeps a non-empty identity.
func fuzzDecode(t *testing.T, mode event.Mode, h http.Header, body []byte) {
	items, err := event.Decode(mode, h, body)
	if err != nil {
		if event.ErrorCode(err) == event.CodeInternal {
			t.Fatalf("decode error without a code: %v", err)
		}
		return
	}
	for i, it := range items {
		if (it.Event == nil) == (it.Err == nil) {
			t.Fatalf("item %d: exactly one of event and error must be set", i)
		}
		if it.Event == nil {
			continue
		}
		if verr := event.Validate(it.Event, it.Size, event.DefaultLimits(), time.Now()); verr == nil {
			if it.Event.ID() == "" || it.Event.Source() == "" || it.Event.Type() == "" {
				t.Fatalf("item %d valid without identity: %+v", i, it.Event)
			}
			if _, merr := it.Event.MarshalJSON(); merr != nil {
				t.Fatalf("item %d valid but cannot be encoded for the stream: %v", i, merr)
			}
		} else if event.ErrorCode(verr) == event.CodeInternal {
			t.Fatalf("validation error without a code: %v", verr)
		}
	}
}

func seed(f *testing.F, mode event.Mode) {
	for _, tc := range decodeCases {
		if tc.mode == mode {
			f.Add([]byte(tc.body))
		}
	}
}

func FuzzDecodeStructured(f *testing.F) {
	seed(f, event.ModeStructured)
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
	f.Add("1.0", "id-1", "/src", "t", "application/json", []byte(`{"a":1}`))
	f.Add("1.0", "", "/src", "t", "text/plain", []byte("x"))
	f.Add("0.3", "id", "%zz", "t", "", []byte{0xff})
	f.Fuzz(func(t *testing.T, specversion, id, source, typ, ct string, body []byte) {
		h := http.Header{}
		h.Set("Ce-Specversion", specversion)
		h.Set("Ce-Id", id)
		h.Set("Ce-Source", source)
		h.Set("Ce-Type", typ)
		h.Set("Content-Type", ct)
		fuzzDecode(t, event.ModeBinary, h, body)
	})
}
