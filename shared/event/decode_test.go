package event_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/event"
)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestDetectMode(t *testing.T) {
	tests := []struct {
		name    string
		header  http.Header
		want    event.Mode
		wantErr bool
	}{
		{"binary", header("Ce-Specversion", "1.0", "Content-Type", "application/json"), event.ModeBinary, false},
		// CloudEvents' HTTP binding: the media type decides, ce- headers
		// or not (the SDK's binary reader would read such a body itself,
		// past this project's checks).
		{"structured type wins over ce- headers", header("ce-specversion", "1.0", "ce-foo", "x", "Content-Type", "application/cloudevents+json"), event.ModeStructured, false},
		{"batch type wins over ce- headers", header("ce-id", "1", "Content-Type", "application/cloudevents-batch+json; charset=utf-8"), event.ModeBatch, false},
		{"other cloudevents format", header("ce-specversion", "1.0", "Content-Type", "application/cloudevents+xml"), 0, true},
		{"structured with charset", header("Content-Type", "application/cloudevents+json; charset=utf-8"), event.ModeStructured, false},
		{"batch", header("Content-Type", "application/cloudevents-batch+json"), event.ModeBatch, false},
		{"simple", header("Content-Type", "application/json"), event.ModeSimple, false},
		{"text", header("Content-Type", "text/plain"), 0, true},
		{"none", header(), 0, true},
		{"garbage", header("Content-Type", ";;;"), 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := event.DetectMode(tc.header)
			if tc.wantErr {
				require.Error(t, err)
				assert.Equal(t, event.CodeUnsupportedMedia, event.ErrorCode(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// decodeCases are table cases that also seed the fuzz targets.
var decodeCases = []struct {
	name    string
	mode    event.Mode
	body    string
	wantN   int
	wantErr bool
}{
	{"structured", event.ModeStructured, `{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1}}`, 1, false},
	{"structured +json data", event.ModeStructured, `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/vnd.a+json","data":{"a":1}}`, 1, false},
	{"structured nulls", event.ModeStructured, `{"datacontenttype":null,"specversion":"1.0","id":"1","source":"s","type":"t","data":null,"data_base64":null}`, 1, false},
	{"structured base64", event.ModeStructured, `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/plain","data_base64":"aGk="}`, 1, false},
	{"structured not object", event.ModeStructured, `"x"`, 0, true},
	{"batch", event.ModeBatch, `[{"specversion":"1.0","id":"1","source":"s","type":"t"},{"id":2}]`, 2, false},
	{"batch broken", event.ModeBatch, `[{"specversion":"1.0"`, 0, true},
	{"batch not array", event.ModeBatch, `{}`, 0, true},
	{"simple", event.ModeSimple, `{"events":[{"event_id":"1","event_type":"t","user_id":7,"properties":{"k":"v"}}]}`, 1, false},
	{"simple no events", event.ModeSimple, `{"other":1}`, 0, true},
	{"simple bad event", event.ModeSimple, `{"events":[1,{"event_id":true}]}`, 2, false},
	// Anything after the value but whitespace makes the body unreadable:
	// a second event there would otherwise be dropped without a word.
	{"structured two objects", event.ModeStructured, `{"specversion":"1.0","id":"1","source":"s","type":"t"},{"specversion":"1.0","id":"2","source":"s","type":"t"}`, 0, true},
	{"structured garbage after", event.ModeStructured, `{"specversion":"1.0","id":"1","source":"s","type":"t"} garbage`, 0, true},
	{"structured whitespace after", event.ModeStructured, "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\"} \r\n\t", 1, false},
	{"structured malformed", event.ModeStructured, `{bad`, 0, true},
	{"structured truncated", event.ModeStructured, `{"specversion":"1.0","id":"1"`, 0, true},
	{"batch garbage after", event.ModeBatch, `[{"specversion":"1.0","id":"1","source":"s","type":"t"}] garbage`, 0, true},
	{"batch two arrays", event.ModeBatch, `[{"id":"1"}][{"id":"2"}]`, 0, true},
	{"batch element broken", event.ModeBatch, `[{"id":"1"},{"id":}]`, 0, true},
	{"simple garbage after", event.ModeSimple, `{"events":[{"event_id":"1","event_type":"t"}]} garbage`, 0, true},
	{"simple events not array", event.ModeSimple, `{"events":{"event_id":"1"}}`, 0, true},
	{"simple events null", event.ModeSimple, `{"events":null}`, 0, true},
}

func TestDecode(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			items, err := event.Decode(tc.mode, header(), []byte(tc.body))
			if tc.wantErr {
				require.Error(t, err)
				assert.Equal(t, event.CodeInvalid, event.ErrorCode(err))
				return
			}
			require.NoError(t, err)
			assert.Len(t, items, tc.wantN)
		})
	}
}

func TestDecodeSimpleMapsFields(t *testing.T) {
	items, err := event.Decode(event.ModeSimple, header(), []byte(
		`{"events":[{"event_id":"e1","event_type":"signup","user_id":"u1","timestamp":"2026-11-01T00:00:00Z","properties":{"plan":"pro"}},
		            {"event_id":"e2","event_type":"signup","source":"mobile"}]}`))
	require.NoError(t, err)
	require.Len(t, items, 2)
	e := items[0].Event
	require.NotNil(t, e)
	assert.Equal(t, "e1", e.ID())
	assert.Equal(t, "signup", e.Type())
	assert.Equal(t, "u1", e.Subject())
	assert.Equal(t, "simple", e.Source())
	assert.Equal(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), e.Time().UTC())
	assert.JSONEq(t, `{"plan":"pro"}`, string(e.Data()))
	assert.Equal(t, "mobile", items[1].Event.Source())
}

// Simple mode keeps spaces around id, type and user as batch mode does:
// an identity or a user must not depend on the mode it was sent in.
// A simple-JSON body without "events" names the members it has instead,
// so that a typo in the one member the body needs shows at once.
func TestDecodeSimpleNamesMembersInsteadOfEvents(t *testing.T) {
	_, err := event.Decode(event.ModeSimple, header(), []byte(`{"evnts":[{"event_id":"1","event_type":"t"}],"sent_at":"x"}`))
	require.Error(t, err)
	assert.Equal(t, `body has no "events" array (it has "evnts", "sent_at")`, err.Error())
	_, err = event.Decode(event.ModeSimple, header(), []byte(`{}`))
	assert.EqualError(t, err, `body has no "events" array`)
}

func TestDecodeSimpleKeepsSpacesAsBatchDoes(t *testing.T) {
	simple, err := event.Decode(event.ModeSimple, header(), []byte(
		`{"events":[{"event_id":" e1 ","event_type":" signup ","user_id":"  u1","source":"/s"}]}`))
	require.NoError(t, err)
	batch, err := event.Decode(event.ModeBatch, header(), []byte(
		`[{"specversion":"1.0","id":" e1 ","type":" signup ","subject":"  u1","source":"/s"}]`))
	require.NoError(t, err)
	for _, items := range [][]event.Item{simple, batch} {
		require.Len(t, items, 1)
		require.NoError(t, items[0].Err)
		e := items[0].Event
		assert.Equal(t, []string{" e1 ", " signup ", "  u1"}, []string{e.ID(), e.Type(), e.Subject()})
	}
}

// A +json datacontenttype is JSON: its data may be any JSON value, read as
// application/json's would be, in a structured event and in a batch, and
// the stream's reader (DecodeJSON) gives the same event back.
func TestDecodeStructuredPlusJSONData(t *testing.T) {
	const obj = `{"plan": "pro", "n": [1, 2]}`
	for _, body := range []string{
		`{"specversion":"1.0","id":"j1","source":"/s","type":"t","datacontenttype":"application/vnd.foo+json","data":` + obj + `}`,
		`{"data": ` + obj + ` , "specversion":"1.0","id":"j1","source":"/s","type":"t","datacontenttype":"application/vnd.foo+json; charset=utf-8"}`,
	} {
		items, err := event.Decode(event.ModeStructured, header(), []byte(body))
		require.NoError(t, err)
		require.NoError(t, items[0].Err, body)
		e := items[0].Event
		assert.Equal(t, obj, string(e.Data()), body)
		assert.True(t, event.HasJSONData(e))
		back, err := event.DecodeJSON(items[0].JSON)
		require.NoError(t, err)
		assert.Equal(t, obj, string(back.Data()))

		batch, err := event.Decode(event.ModeBatch, header(), []byte("["+body+","+body+"]"))
		require.NoError(t, err)
		for _, it := range batch {
			require.NoError(t, it.Err)
			assert.Equal(t, obj, string(it.Event.Data()))
		}
	}
	for body, want := range map[string]string{
		// Numbers and booleans are JSON values too; a string stays what
		// the SDK makes of it (its text), as a binary event's data travels.
		`{"specversion":"1.0","id":"j2","source":"/s","type":"t","datacontenttype":"application/ld+json","data":5}`:           `5`,
		`{"specversion":"1.0","id":"j3","source":"/s","type":"t","datacontenttype":"application/ld+json","data":"{\"a\":1}"}`: `{"a":1}`,
		`{"specversion":"1.0","id":"j4","source":"/s","type":"t","datacontenttype":"application/ld+json","data":null}`:        ``,
	} {
		items, err := event.Decode(event.ModeStructured, header(), []byte(body))
		require.NoError(t, err)
		require.NoError(t, items[0].Err, body)
		assert.Equal(t, want, string(items[0].Event.Data()), body)
	}
	// Other media types carry text, as CloudEvents' JSON format says.
	items, err := event.Decode(event.ModeStructured, header(), []byte(
		`{"specversion":"1.0","id":"x","source":"/s","type":"t","datacontenttype":"text/plain","data":{"a":1}}`))
	require.NoError(t, err)
	assert.Equal(t, event.CodeInvalid, event.ErrorCode(items[0].Err))
}

// JSON's event format: null is absent, and data excludes data_base64.
func TestDecodeStructuredNullsAndDataExclusion(t *testing.T) {
	for _, tc := range []struct {
		body, wantData, wantCT string
	}{
		{`{"specversion":"1.0","id":"n1","source":"/s","type":"t","datacontenttype":null}`, "", ""},
		{`{"datacontenttype" : null , "specversion":"1.0","id":"n2","source":"/s","type":"t","data":{"a":1}}`, `{"a":1}`, ""},
		{`{"specversion":"1.0","id":"n3","source":"/s","type":"t","data_base64":null,"data":{"a":1}}`, `{"a":1}`, ""},
		{`{"specversion":"1.0","id":"n4","source":"/s","type":"t","data":{"a":1},"data_base64":null}`, `{"a":1}`, ""},
		{`{"specversion":"1.0","id":"n5","source":"/s","type":"t","data_base64":null,"datacontenttype":null}`, "", ""},
		{`{"specversion":"1.0","id":"n6","source":"/s","type":"t","datacontenttype":"text/plain","data_base64":"aGk=","data":null}`, "hi", "text/plain"},
		// A +json value the SDK does not see, then a null after it.
		{`{"specversion":"1.0","id":"n7","source":"/s","type":"t","datacontenttype":"application/ld+json","data":{"long":"value"},"data_base64":null}`, `{"long":"value"}`, "application/ld+json"},
	} {
		items, err := event.Decode(event.ModeStructured, header(), []byte(tc.body))
		require.NoError(t, err)
		require.NoError(t, items[0].Err, tc.body)
		e := items[0].Event
		assert.Equal(t, tc.wantData, string(e.Data()), tc.body)
		assert.Equal(t, tc.wantCT, e.DataContentType(), tc.body)
		back, err := event.DecodeJSON(items[0].JSON)
		require.NoError(t, err)
		assert.Equal(t, tc.wantData, string(back.Data()), tc.body)
	}
	for _, body := range []string{
		`{"specversion":"1.0","id":"x1","source":"/s","type":"t","datacontenttype":"text/plain","data":"x","data_base64":"eA=="}`,
		`{"specversion":"1.0","id":"x2","source":"/s","type":"t","data_base64":"eA==","data":{"a":1}}`,
	} {
		items, err := event.Decode(event.ModeStructured, header(), []byte(body))
		require.NoError(t, err)
		require.Error(t, items[0].Err, body)
		assert.Contains(t, items[0].Err.Error(), "data and data_base64 exclude each other")
	}
}

// RFC 3339 allows a lower case t and z; Go's parser (and so the SDK's)
// does not.
func TestDecodeLowerCaseTime(t *testing.T) {
	want := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	body := `{"specversion":"1.0","id":"t1","source":"/s","type":"t","time":"2026-11-27t10:00:00z","data":{"a":1},"datacontenttype":null}`
	items, err := event.Decode(event.ModeStructured, header(), []byte(body))
	require.NoError(t, err)
	require.NoError(t, items[0].Err)
	assert.Equal(t, want, items[0].Event.Time().UTC())
	assert.Equal(t, body, string(items[0].JSON), "the event is published as it came")
	back, err := event.DecodeJSON(items[0].JSON)
	require.NoError(t, err)
	assert.Equal(t, want, back.Time().UTC())

	h := header("Ce-Specversion", "1.0", "Ce-Id", "t2", "Ce-Source", "/s", "Ce-Type", "t", "Ce-Time", "2026-11-27t10:00:00z")
	items, err = event.Decode(event.ModeBinary, h, nil)
	require.NoError(t, err)
	require.NoError(t, items[0].Err)
	assert.Equal(t, want, items[0].Event.Time().UTC())
	assert.Equal(t, "2026-11-27t10:00:00z", h.Get("Ce-Time"), "the request's headers are left alone")

	items, err = event.Decode(event.ModeSimple, header(), []byte(`{"events":[{"event_id":"t4","event_type":"t","timestamp":"2026-11-27t10:00:00z"}]}`))
	require.NoError(t, err)
	require.NoError(t, items[0].Err)
	assert.Equal(t, want, items[0].Event.Time().UTC())

	for _, bad := range []string{"2026-11-27x10:00:00z", `2026-11-27\u007410:00:00z`} {
		items, err := event.Decode(event.ModeStructured, header(), []byte(`{"specversion":"1.0","id":"t3","source":"/s","type":"t","time":"`+bad+`"}`))
		require.NoError(t, err)
		assert.Error(t, items[0].Err, bad)
	}
}

// A ce-data header is no attribute; the SDK took it for the data and
// dropped the body.
func TestDecodeBinaryRefusesCeData(t *testing.T) {
	h := header("Ce-Specversion", "1.0", "Ce-Id", "b2", "Ce-Source", "/s", "Ce-Type", "t",
		"Ce-Data", "inj", "Content-Type", "text/plain")
	items, err := event.Decode(event.ModeBinary, h, []byte("realtext"))
	require.NoError(t, err)
	require.Error(t, items[0].Err)
	assert.Equal(t, event.CodeInvalid, event.ErrorCode(items[0].Err))
	assert.Contains(t, items[0].Err.Error(), "ce-data")
}

// CloudEvents' HTTP binding has senders percent-encode header values
// (space, '"', '%', all but printable ASCII) and receivers decode them
// once; senders that do not encode (Go's and Java's SDKs) are read as
// they sent wherever the value is no valid encoding.
func TestDecodeBinaryPercentDecodes(t *testing.T) {
	h := header("Ce-Specversion", "1.0", "Ce-Id", "order%201", "Ce-Source", "/shop%20eu", "Ce-Type", "Order%20Placed",
		"Ce-Subject", "J%C3%BCrgen", "Ce-Note", "50%25%20off%22", "Ce-Raw", "100%", "Ce-Bad", "%zz", "Ce-Plus", "a+b",
		"Content-Type", "application/json")
	sent := h.Clone()
	items, err := event.Decode(event.ModeBinary, h, []byte(`{"a":1}`))
	require.NoError(t, err)
	require.NoError(t, items[0].Err)
	e := items[0].Event
	assert.Equal(t, "order 1", e.ID())
	assert.Equal(t, "Order Placed", e.Type())
	assert.Equal(t, "Jürgen", e.Subject())
	assert.Equal(t, `50% off"`, e.Extensions()["note"])
	assert.Equal(t, "100%", e.Extensions()["raw"])
	assert.Equal(t, "%zz", e.Extensions()["bad"])
	assert.Equal(t, "a+b", e.Extensions()["plus"], "+ is no space in a header")
	assert.Equal(t, sent, h, "the request's headers are left alone")

	// The same event in structured mode is the same event.
	structured := `{"specversion":"1.0","id":"order 1","source":"/shop eu","type":"Order Placed","subject":"Jürgen",
		"note":"50% off\"","raw":"100%","bad":"%zz","plus":"a+b","datacontenttype":"application/json","data":{"a":1}}`
	same, err := event.Decode(event.ModeStructured, header(), []byte(structured))
	require.NoError(t, err)
	require.NoError(t, same[0].Err)
	assert.Equal(t, same[0].Event.Context, e.Context)
}

func TestDecodeBinary(t *testing.T) {
	h := header("Ce-Specversion", "1.0", "Ce-Id", "b1", "Ce-Source", "/s", "Ce-Type", "t",
		"Ce-Subject", "u", "Ce-Traceparent", "00-x", "Content-Type", "application/json")
	items, err := event.Decode(event.ModeBinary, h, []byte(`{"a":1}`))
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.NoError(t, items[0].Err)
	e := items[0].Event
	assert.Equal(t, "b1", e.ID())
	assert.Equal(t, "00-x", e.Extensions()["traceparent"])
	assert.JSONEq(t, `{"a":1}`, string(e.Data()))
}

func TestValidate(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	lim := event.DefaultLimits()
	tests := []struct {
		name    string
		body    string
		size    int
		wantErr string
	}{
		{"ok", `{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1}}`, 10, ""},
		{"too large", `{"specversion":"1.0","id":"1","source":"s","type":"t"}`, lim.MaxEventBytes + 1, "over the limit"},
		{"missing id", `{"specversion":"1.0","source":"s","type":"t"}`, 10, "id is required"},
		{"missing type", `{"specversion":"1.0","id":"1","source":"s"}`, 10, "type is required"},
		{"nul in id", `{"specversion":"1.0","id":"a\u0000b","source":"s","type":"t"}`, 10, "NUL"},
		{"nul in data", `{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":"\u0000"}}`, 10, "NUL"},
		{"future", `{"specversion":"1.0","id":"1","source":"s","type":"t","time":"2026-11-27T00:00:00Z"}`, 10, "future"},
		{"23h ahead is fine", `{"specversion":"1.0","id":"1","source":"s","type":"t","time":"2026-11-26T11:00:00Z"}`, 10, ""},
		{"old is fine", `{"specversion":"1.0","id":"1","source":"s","type":"t","time":"1999-01-01T00:00:00Z"}`, 10, ""},
		{"json array data kept as bytes", `{"specversion":"1.0","id":"1","source":"s","type":"t","data":[1]}`, 10, ""},
		{"json string data kept as bytes", `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/json; charset=utf-8","data":"hi"}`, 10, ""},
		{"text data any shape", `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/plain","data":"hi"}`, 10, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, err := event.Decode(event.ModeStructured, header(), []byte(tc.body))
			require.NoError(t, err)
			// Some faults are found while reading, before Validate.
			err = items[0].Err
			if err == nil {
				err = event.Validate(items[0].Event, tc.size, lim, now)
			}
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.False(t, items[0].Event.Time().IsZero(), "time is set")
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
