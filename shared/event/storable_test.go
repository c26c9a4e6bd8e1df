package event_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/event"
)

// sce is a structured event with id "1" and the given members appended.
func sce(members string) string {
	return `{"specversion":"1.0","id":"1","source":"s","type":"t"` + members + `}`
}

// simpleOf is a simple-JSON body of one event with the given members.
func simpleOf(members string) string {
	return `{"events":[{"event_id":"1","event_type":"t"` + members + `}]}`
}

func binaryHeader(kv ...string) http.Header {
	return header(append([]string{"Ce-Specversion", "1.0", "Ce-Id", "1", "Ce-Source", "s", "Ce-Type", "t"}, kv...)...)
}

// judgeCases are single events, each either accepted (wantErr "") or
// rejected with a message containing wantErr. Every event accepted must be
// storable as it came: PostgreSQL's text columns refuse NUL and bytes that
// are not UTF-8, jsonb refuses more (see store's TestAcceptedIsStorable,
// which sends the same kinds of events into a real database). They seed the
// fuzz targets too.
var judgeCases = []struct {
	name    string
	mode    event.Mode
	header  http.Header
	body    string
	wantErr string
}{
	// NUL and UTF-8 in text attributes and extension values, every mode.
	{"NUL in extension value", event.ModeStructured, nil, sce(`,"myext":"a\u0000b"`), `extension myext must not contain NUL`},
	{"NUL in id", event.ModeStructured, nil, `{"specversion":"1.0","id":"a\u0000b","source":"s","type":"t"}`, "id must not contain NUL"},
	{"NUL in subject", event.ModeStructured, nil, sce(`,"subject":"\u0000"`), "subject must not contain NUL"},
	{"invalid UTF-8 in subject", event.ModeStructured, nil, sce(`,"subject":"a` + "\xff" + `"`), "subject is not valid UTF-8"},
	// An empty or null source is missing, as in binary mode.
	{"empty source", event.ModeStructured, nil, `{"specversion":"1.0","id":"1","source":"","type":"t"}`, "source is required"},
	{"null source", event.ModeBatch, nil, `[{"specversion":"1.0","id":"1","source":null,"type":"t"}]`, "source is required"},
	// A subject is a btree key of the rollups: bounded below PostgreSQL's cap.
	{"subject at the limit", event.ModeStructured, nil, sce(`,"subject":"` + strings.Repeat("é", event.MaxSubjectBytes/2) + `"`), ""},
	{"subject over the limit", event.ModeStructured, nil, sce(`,"subject":"` + strings.Repeat("é", event.MaxSubjectBytes/2) + `x"`), "subject is 1025 bytes, over the limit of 1024"},
	{"invalid UTF-8 in id", event.ModeStructured, nil, `{"specversion":"1.0","id":"` + "\xc3\x28" + `","source":"s","type":"t"}`, "id is not valid UTF-8"},
	{"invalid UTF-8 in source", event.ModeStructured, nil, `{"specversion":"1.0","id":"1","source":"urn:` + "\xff" + `","type":"t"}`, "source is not valid UTF-8"},
	{"invalid UTF-8 in type", event.ModeStructured, nil, `{"specversion":"1.0","id":"1","source":"s","type":"` + "\xed\xa0\x80" + `"}`, "type is not valid UTF-8"},
	{"invalid UTF-8 in extension", event.ModeStructured, nil, sce(`,"myext":"` + "\xff" + `"`), "extension myext is not valid UTF-8"},
	{"unpaired surrogate in subject", event.ModeStructured, nil, sce(`,"subject":"\udc00"`), "subject holds an unpaired UTF-16 surrogate"},
	{"UTF-8 text is fine", event.ModeStructured, nil, sce(`,"subject":"Zoë 😀 \u00e9 \ud83d\ude00","myext":"ü"`), ""},
	{"batch: NUL in extension", event.ModeBatch, nil, "[" + sce(`,"myext":"\u0000"`) + "]", "extension myext must not contain NUL"},
	{"batch: invalid UTF-8 in subject", event.ModeBatch, nil, "[" + sce(`,"subject":"`+"\xff"+`"`) + "]", "subject is not valid UTF-8"},
	{"simple: invalid UTF-8 in event_type", event.ModeSimple, nil, `{"events":[{"event_id":"1","event_type":"` + "\xff" + `"}]}`, "event_type is not valid UTF-8"},
	{"simple: invalid UTF-8 in user_id", event.ModeSimple, nil, simpleOf(`,"user_id":"` + "\xff" + `"`), "user_id is not valid UTF-8"},
	{"simple: invalid UTF-8 in source", event.ModeSimple, nil, simpleOf(`,"source":"` + "\xff" + `"`), "source is not valid UTF-8"},
	{"simple: NUL in event_id", event.ModeSimple, nil, `{"events":[{"event_id":"\u0000","event_type":"t"}]}`, "event_id must not contain NUL"},
	{"simple: invalid UTF-8 in a property", event.ModeSimple, nil, simpleOf(`,"properties":{"k":"` + "\xff" + `"}`), "data is not valid UTF-8"},
	{"simple: NUL in a property key", event.ModeSimple, nil, simpleOf(`,"properties":{"\u0000":1}`), "data must not contain NUL"},
	{"binary: invalid UTF-8 in ce-subject", event.ModeBinary, binaryHeader("Ce-Subject", "\xff"), "", "subject is not valid UTF-8"},
	{"binary: invalid UTF-8 in ce-id", event.ModeBinary, header("Ce-Specversion", "1.0", "Ce-Id", "\xff", "Ce-Source", "s", "Ce-Type", "t"), "", "id is not valid UTF-8"},
	{"binary: invalid UTF-8 in ce-type", event.ModeBinary, header("Ce-Specversion", "1.0", "Ce-Id", "1", "Ce-Source", "s", "Ce-Type", "\xff"), "", "type is not valid UTF-8"},
	{"binary: invalid UTF-8 in an extension", event.ModeBinary, binaryHeader("Ce-Myext", "\xff"), "", "extension myext is not valid UTF-8"},
	// Header values are percent-decoded (HTTP binding 3.1.3.2) before they are judged.
	{"binary: percent-encoded invalid UTF-8 in ce-subject", event.ModeBinary, binaryHeader("Ce-Subject", "a%FFb"), "", "subject is not valid UTF-8"},
	{"binary: percent-encoded NUL in an extension", event.ModeBinary, binaryHeader("Ce-Myext", "a%00b"), "", "extension myext must not contain NUL"},
	{"binary: percent-encoded type over the limit", event.ModeBinary, binaryHeader("Ce-Type", strings.Repeat("%C3%A9", 129)), "", "type is 258 bytes, over the limit of 256"},
	{"binary: percent-encoded UTF-8 is fine", event.ModeBinary, binaryHeader("Ce-Subject", "Zo%C3%AB%20%F0%9F%98%80"), "", ""},
	{"binary: unpaired surrogate in data", event.ModeBinary, binaryHeader("Content-Type", "application/json"), `{"k":"\ud800"}`, "data holds an unpaired UTF-16 surrogate"},
	{"binary: invalid UTF-8 in data", event.ModeBinary, binaryHeader("Content-Type", "application/json"), `{"k":"` + "\xff" + `"}`, "data is not valid UTF-8"},
	{"binary: whitespace around JSON data", event.ModeBinary, binaryHeader(), " 0 ", ""},
	{"binary: bytes are bytes", event.ModeBinary, binaryHeader("Content-Type", "application/octet-stream"), "\x00\xff", ""},

	// Object data is stored as jsonb, which parses all of it.
	{"unpaired high surrogate", event.ModeStructured, nil, sce(`,"data":{"k":"\ud800"}`), `data holds an unpaired UTF-16 surrogate (\ud800)`},
	{"unpaired low surrogate", event.ModeStructured, nil, sce(`,"data":{"k":"\uDC00"}`), "data holds an unpaired UTF-16 surrogate"},
	{"high surrogate then no low one", event.ModeStructured, nil, sce(`,"data":{"k":"\ud800\u0041"}`), "data holds an unpaired UTF-16 surrogate"},
	{"surrogate in a key", event.ModeStructured, nil, sce(`,"data":{"\ud800":1}`), "data holds an unpaired UTF-16 surrogate"},
	{"surrogate deep down", event.ModeStructured, nil, sce(`,"data":{"a":{"b":[1,{"c":"x\udfffy"}]}}`), "data holds an unpaired UTF-16 surrogate"},
	{"surrogate pair", event.ModeStructured, nil, sce(`,"data":{"k":"\ud83d\ude00","\uD83D\uDE00":1}`), ""},
	{"NUL in a value", event.ModeStructured, nil, sce(`,"data":{"a":"\u0000"}`), `data must not contain NUL characters (\u0000)`},
	{"NUL in a key", event.ModeStructured, nil, sce(`,"data":{"\u0000":1}`), "data must not contain NUL"},
	{"NUL deep down", event.ModeStructured, nil, sce(`,"data":{"a":[1,{"b":"x\u0000"}]}`), "data must not contain NUL"},
	{"escaped backslash then u0000 text", event.ModeStructured, nil, sce(`,"data":{"path":"C:\\u0000dir"}`), ""},
	{"escaped backslash then NUL", event.ModeStructured, nil, sce(`,"data":{"path":"C:\\\u0000dir"}`), "data must not contain NUL"},
	{"invalid UTF-8 in a property", event.ModeStructured, nil, sce(`,"data":{"k":"` + "\xff" + `"}`), "data is not valid UTF-8"},
	{"invalid UTF-8 in a property key", event.ModeStructured, nil, sce(`,"data":{"` + "\xc0\xaf" + `":1}`), "data is not valid UTF-8"},
	// Numbers: PostgreSQL's numeric range, and float64, past which the
	// SDK cannot read the event back from the stream. (The SDK refuses
	// those in structured mode itself, with a message of its own that the
	// answer replaces; binary data is not read by it.)
	{"number past float64", event.ModeBinary, binaryHeader(), `{"n":1e309}`, "data holds a number that cannot be stored (1e309)"},
	{"structured: number past float64", event.ModeStructured, nil, sce(`,"data":{"n":1e309}`), "data holds a number that cannot be stored (1e309)"},
	{"structured: +json number past float64", event.ModeStructured, nil, sce(`,"datacontenttype":"application/ld+json","data":[1e309]`), "data holds a number that cannot be stored (1e309)"},
	{"negative number past float64", event.ModeBinary, binaryHeader(), `{"n":[-1` + strings.Repeat("0", 400) + `]}`, "data holds a number that cannot be stored"},
	{"array with a number past float64", event.ModeBinary, binaryHeader(), `[1e309]`, "data holds a number that cannot be stored"},
	{"numbers in range", event.ModeBinary, binaryHeader(), `{"n":1.7e308,"m":-1E+5,"z":0.0e16383,"tiny":1e-400}`, ""},
	{"number too precise for numeric", event.ModeStructured, nil, sce(`,"data":{"n":[1.` + strings.Repeat("0", 16384) + `]}`), "data holds a number that cannot be stored"},
	{"number just precise enough", event.ModeStructured, nil, sce(`,"data":{"n":[1.` + strings.Repeat("0", 16383) + `]}`), ""},
	{"zero with a huge exponent", event.ModeBinary, binaryHeader(), `{"n":0e1073741823}`, "data holds a number that cannot be stored"},
	{"nesting past the bound", event.ModeStructured, nil, sce(`,"data":{"a":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`), "nested deeper than 1000"},
	{"nesting inside the bound", event.ModeStructured, nil, sce(`,"data":{"a":` + strings.Repeat("[", 998) + strings.Repeat("]", 998) + `}`), ""},
	// Other data is stored as bytes: anything goes.
	{"array data is bytes", event.ModeStructured, nil, sce(`,"data":["\u0000","\ud800",1e300]`), ""},
	{"binary: array data is bytes", event.ModeBinary, binaryHeader(), `["\u0000","\ud800",-1e-400]`, ""},
	{"array nested past the bound", event.ModeStructured, nil, sce(`,"data":` + strings.Repeat("[", 1001) + strings.Repeat("]", 1001)), "data is nested deeper than 1000"},
	{"string data is bytes", event.ModeStructured, nil, sce(`,"data":"\ud800"`), ""},
	{"text data is bytes", event.ModeStructured, nil, sce(`,"datacontenttype":"text/plain","data":"a\u0000b"`), ""},

	// Extensions: CloudEvents names and value types, kept as they came.
	{"extension decimal number", event.ModeStructured, nil, sce(`,"price":2.75`), "extension price: 2.75 is not an integer in the int32 range"},
	{"extension integer over int32", event.ModeStructured, nil, sce(`,"big":12345678901`), "extension big: 12345678901 is not an integer in the int32 range"},
	{"extension int32 bounds", event.ModeStructured, nil, sce(`,"max":2147483647,"min":-2147483648,"one":1.0,"hundred":1e2`), ""},
	{"extension just over int32", event.ModeStructured, nil, sce(`,"n":2147483648`), "not an integer in the int32 range"},
	{"extension booleans and strings", event.ModeStructured, nil, sce(`,"flag":true,"off":false,"s":"x","none":null`), ""},
	{"extension object", event.ModeStructured, nil, sce(`,"obj":{"a":1}`), "extension obj must be a string, a boolean or an integer"},
	{"extension name with capitals", event.ModeStructured, nil, sce(`,"MyExt":"x"`), `extension attribute name "MyExt" is not valid`},
	{"extension name with underscore", event.ModeStructured, nil, sce(`,"my_ext":"x"`), `extension attribute name "my_ext" is not valid`},

	// dataschema must be an absolute URI; the SDK drops one it cannot parse.
	{"dataschema unparseable", event.ModeStructured, nil, sce(`,"dataschema":"%zz"`), `dataschema "%zz" is not an absolute URI`},
	{"dataschema relative", event.ModeStructured, nil, sce(`,"dataschema":"/schema.json"`), "dataschema"},
	{"dataschema absolute", event.ModeStructured, nil, sce(`,"dataschema":"https://example.com/s.json"`), ""},
	{"binary: dataschema unparseable", event.ModeBinary, binaryHeader("Ce-Dataschema", "%zz"), "", "dataschema"},

	// Any past time is kept; before year 1 there is no day to store it in.
	{"time of year 1", event.ModeStructured, nil, sce(`,"time":"0001-01-01T00:00:00Z"`), ""},
	{"time before year 1", event.ModeStructured, nil, sce(`,"time":"0001-01-01T00:00:00+01:00"`), "before 0001-01-01"},
	{"time not RFC 3339", event.ModeStructured, nil, sce(`,"time":"yesterday"`), `time "yesterday" is not an RFC 3339 timestamp`},

	// Attribute types, with messages that name the attribute.
	{"id a number", event.ModeStructured, nil, `{"specversion":"1.0","id":1,"source":"s","type":"t"}`, "id must be a string"},
	{"no specversion", event.ModeStructured, nil, `{"id":"1","source":"s","type":"t"}`, "specversion is required"},
	{"bad base64", event.ModeStructured, nil, sce(`,"data_base64":"!!!"`), "cannot read event"},

	// Simple ids: a number is its value.
	// A member outside the six of simple mode rejects its event, named:
	// a typo must not make an anonymous event.
	{"simple: unknown member", event.ModeSimple, nil, simpleOf(`,"userid":"u1"`), `unknown member "userid" (did you mean "user_id"?): a simple-mode event takes only event_id, event_type, user_id, timestamp, properties, source`},
	{"simple: member in camel case", event.ModeSimple, nil, simpleOf(`,"userId":"u1"`), `unknown member "userId" (did you mean "user_id"?)`},
	{"simple: member of another SDK", event.ModeSimple, nil, simpleOf(`,"anonymous_id":"a1"`), `unknown member "anonymous_id": a simple-mode event`},
	{"simple: unknown member null", event.ModeSimple, nil, simpleOf(`,"context":null`), `unknown member "context"`},
	{"simple: unknown member with a line break", event.ModeSimple, nil, simpleOf(`,"a\nb":1`), `unknown member "a\nb"`},
	{"simple: unknown member, long", event.ModeSimple, nil, simpleOf(`,"` + strings.Repeat("x", 300) + `":1`), `unknown member "` + strings.Repeat("x", 64) + `…"`},
	{"simple: decimal event_id", event.ModeSimple, nil, `{"events":[{"event_id":1.5,"event_type":"t"}]}`, "event_id 1.5 is not an integer"},
	{"simple: huge event_id", event.ModeSimple, nil, `{"events":[{"event_id":1e300,"event_type":"t"}]}`, "event_id 1e300 is not an integer of at most 256 bytes written out"},
	{"simple: event_id an object", event.ModeSimple, nil, `{"events":[{"event_id":{},"event_type":"t"}]}`, "event_id must be a string or an integer"},
	{"simple: decimal user_id", event.ModeSimple, nil, simpleOf(`,"user_id":0.5`), "user_id 0.5 is not an integer"},
	{"simple: properties not an object", event.ModeSimple, nil, simpleOf(`,"properties":[1]`), "properties must be a JSON object"},
}

// judge decodes body as one event and validates it.
func judge(t *testing.T, mode event.Mode, h http.Header, body string, now time.Time) (*cloudevents.Event, error) {
	t.Helper()
	if h == nil {
		h = header()
	}
	items, err := event.Decode(mode, h, []byte(body))
	require.NoError(t, err)
	require.Len(t, items, 1)
	if items[0].Err != nil {
		return nil, items[0].Err
	}
	return items[0].Event, event.Validate(items[0].Event, items[0].Size, event.DefaultLimits(), now)
}

func TestAcceptedEventsAreStorable(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range judgeCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := judge(t, tc.mode, tc.header, tc.body, now)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, event.CodeInvalid, event.ErrorCode(err))
			assert.Contains(t, event.ErrorMessage(err), tc.wantErr)
			assertOneLine(t, event.ErrorMessage(err))
		})
	}
}

// assertOneLine checks a client message: one line, no dump of the input.
func assertOneLine(t *testing.T, msg string) {
	t.Helper()
	assert.NotContains(t, msg, "\n")
	assert.NotContains(t, msg, "error found in")
	assert.NotContains(t, msg, "bigger context")
	assert.Equal(t, strings.TrimSpace(msg), msg)
}

func TestBodyErrorsAreShortAndClean(t *testing.T) {
	tests := []struct {
		name string
		mode event.Mode
		body string
		want string
	}{
		{"malformed structured", event.ModeStructured, `{bad`, "body must be one JSON object (a structured CloudEvent); it is not valid JSON: unexpected 'b' at offset 1"},
		{"two structured events", event.ModeStructured, `{"id":"1"},{"id":"2"}`, "it is not valid JSON: content after the JSON value at offset 10"},
		{"batch garbage after", event.ModeBatch, `[{"id":"1"}] x`, "it is not valid JSON: content after the JSON value at offset 13"},
		{"batch truncated", event.ModeBatch, `[{"specversion":`, "body must be a JSON array of CloudEvents; it is not valid JSON: unexpected end at offset 16"},
		{"simple garbage after", event.ModeSimple, `{"events":[]}}`, "content after the JSON value at offset 13"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := event.Decode(tc.mode, header(), []byte(tc.body))
			require.Error(t, err)
			assert.Equal(t, event.CodeInvalid, event.ErrorCode(err))
			assert.Contains(t, event.ErrorMessage(err), tc.want)
			assertOneLine(t, event.ErrorMessage(err))
		})
	}
}

func TestExtensionsKeptAsTheyCame(t *testing.T) {
	ce, err := judge(t, event.ModeStructured, nil, sce(`,"n":42,"neg":-7,"flag":true,"s":"2.75","one":1.0`), time.Now())
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"n": int32(42), "neg": int32(-7), "flag": true, "s": "2.75", "one": int32(1)}, ce.Extensions())

	// HTTP header names are case-insensitive, so binary mode cannot tell
	// ce-MyExt from ce-myext: both name the extension myext.
	ce, err = judge(t, event.ModeBinary, binaryHeader("Ce-MyExt", "v"), "", time.Now())
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"myext": "v"}, ce.Extensions())
}

func TestPresentTimeIsKept(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	year1 := "0001-01-01T00:00:00Z"
	tests := []struct {
		name   string
		mode   event.Mode
		header http.Header
		body   string
		want   time.Time
	}{
		{"structured", event.ModeStructured, nil, sce(`,"time":"` + year1 + `"`), time.Time{}},
		{"simple", event.ModeSimple, nil, simpleOf(`,"timestamp":"` + year1 + `"`), time.Time{}},
		{"binary", event.ModeBinary, binaryHeader("Ce-Time", year1), "", time.Time{}},
		{"absent is the receive time", event.ModeStructured, nil, sce(""), now},
		{"empty is absent", event.ModeStructured, nil, sce(`,"time":""`), now},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ce, err := judge(t, tc.mode, tc.header, tc.body, now)
			require.NoError(t, err)
			assert.True(t, tc.want.Equal(ce.Time()), "time %s, want %s", ce.Time(), tc.want)
			// The stream carries it as sent.
			b, err := ce.MarshalJSON()
			require.NoError(t, err)
			assert.Contains(t, string(b), `"time":"`+tc.want.UTC().Format(time.RFC3339Nano)+`"`)
		})
	}
}

func TestSimpleNumericIDsAreTheirValue(t *testing.T) {
	tests := []struct{ id, want string }{
		{`1500`, "1500"}, {`1.5e3`, "1500"}, {`1500.000`, "1500"}, {`15E+2`, "1500"},
		{`150000e-2`, "1500"}, {`-0`, "0"}, {`0.0e5`, "0"}, {`-42`, "-42"}, {`"1.5e3"`, "1.5e3"},
		{`12345678901234567890123`, "12345678901234567890123"},
	}
	for _, tc := range tests {
		ce, err := judge(t, event.ModeSimple, nil, `{"events":[{"event_id":`+tc.id+`,"user_id":`+tc.id+`,"event_type":"t"}]}`, time.Now())
		require.NoError(t, err, tc.id)
		assert.Equal(t, tc.want, ce.ID(), tc.id)
		assert.Equal(t, tc.want, ce.Subject(), tc.id)
	}
}

func TestNullDataIsNoData(t *testing.T) {
	for name, tc := range map[string]struct {
		mode   event.Mode
		header http.Header
		body   string
	}{
		"structured":             {event.ModeStructured, nil, sce(`,"data":null`)},
		"structured with type":   {event.ModeStructured, nil, sce(`,"datacontenttype":"application/json","data": null`)},
		"binary":                 {event.ModeBinary, binaryHeader("Content-Type", "application/json"), " null "},
		"simple null properties": {event.ModeSimple, nil, simpleOf(`,"properties":null`)},
	} {
		ce, err := judge(t, tc.mode, tc.header, tc.body, time.Now())
		require.NoError(t, err, name)
		assert.Empty(t, ce.Data(), name)
	}
}
