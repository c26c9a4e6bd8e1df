package store_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/event"
)

// sent is an event as a client sends it to ingest.
type sent struct {
	name   string
	mode   event.Mode
	header http.Header
	body   string
}

func structured(name, members string) sent {
	return sent{name, event.ModeStructured, http.Header{},
		`{"specversion":"1.0","id":"` + name + `","source":"s","type":"t"` + members + `}`}
}

func binary(name, contentType, body string, kv ...string) sent {
	h := http.Header{}
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", name)
	h.Set("Ce-Source", "s")
	h.Set("Ce-Type", "t")
	h.Set("Content-Type", contentType)
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return sent{name, event.ModeBinary, h, body}
}

// edgeEvents are events at the edges of what ingest accepts: each must
// be stored as is by the consumer's write path, never dead-lettered.
var edgeEvents = []sent{
	structured("unicode", `,"subject":"Zoë 😀 \u00e9 \ud83d\ude00","myext":"ü \\u0000","data":{"k":"\ud83d\ude00","\uD83D\uDE00":"é"}`),
	structured("escaped-backslash", `,"data":{"path":"C:\\u0000dir","deep":{"a":[{"b":"\\\\u0000"}]}}`),
	structured("extensions", `,"max":2147483647,"min":-2147483648,"one":1.0,"flag":true,"s":"2.75"`),
	structured("year-1", `,"time":"0001-01-01T00:00:00Z"`),
	structured("precise", `,"data":{"n":[1.`+strings.Repeat("0", 16383)+`],"tiny":1e-400,"z":0.0e16383}`),
	structured("deep", `,"data":{"a":`+strings.Repeat("[", 998)+strings.Repeat("]", 998)+`}`),
	structured("array-data", `,"data":["\u0000","\ud800"]`),
	structured("text-data", `,"datacontenttype":"text/plain","data":"a\u0000b"`),
	structured("dataschema", `,"dataschema":"https://example.com/s.json"`),
	binary("big-numbers", "application/json", `{"n":1.7e308,"m":-1E+5,"z":0e1073741822}`),
	binary("binary-bytes", "application/octet-stream", "\x00\xff\xfe", "Ce-Myext", "ü"),
}

// TestAcceptedIsStorable sends events that ingest accepts through what
// happens to them next: the stream's encoding, then InsertEvents into a
// real database. Not one may be refused.
func TestAcceptedIsStorable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migratedStore(t)
	now := time.Now().UTC()
	for _, tc := range edgeEvents {
		items, err := event.Decode(tc.mode, tc.header, []byte(tc.body))
		require.NoError(t, err, tc.name)
		require.Len(t, items, 1, tc.name)
		require.NoError(t, items[0].Err, tc.name)
		require.NoError(t, event.Validate(items[0].Event, items[0].Size, event.DefaultLimits(), now), tc.name)

		m, err := bus.EventMsg("events.p", &event.Event{Project: "p", CE: *items[0].Event, ReceivedAt: now})
		require.NoError(t, err, tc.name)
		ev, err := bus.DecodeEventMsg(m.Header, m.Data)
		require.NoError(t, err, tc.name)
		res, err := s.InsertEvents(ctx, []*event.Event{ev})
		require.NoError(t, err, "%s is accepted by ingest but refused by the database", tc.name)
		assert.Equal(t, 1, res.Inserted, tc.name)
	}
	var kept time.Time
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT time FROM events WHERE id = 'year-1'`).Scan(&kept))
	assert.True(t, kept.Equal(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)), "stored %s", kept)
	var ext string
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT extensions::text FROM events WHERE id = 'extensions'`).Scan(&ext))
	assert.JSONEq(t, `{"max":2147483647,"min":-2147483648,"one":1,"flag":true,"s":"2.75"}`, ext)
}

// TestRefusedIsUnstorable shows why ingest rejects these events: built
// past its checks, each is refused by the database for good, which the
// consumer would only learn after ingest had answered 202 and marked the
// identity seen.
func TestRefusedIsUnstorable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migratedStore(t)
	now := time.Now().UTC()
	base := func(id string) cloudevents.Event {
		ce := cloudevents.New()
		ce.SetID(id)
		ce.SetSource("s")
		ce.SetType("t")
		ce.SetTime(now)
		return ce
	}
	withData := func(id, data string) cloudevents.Event {
		ce := base(id)
		ce.DataEncoded = []byte(data)
		return ce
	}
	withExt := func(id string, v any) cloudevents.Event {
		ce := base(id)
		ce.SetExtension("myext", v)
		return ce
	}
	withSubject := func(id, subject string) cloudevents.Event {
		ce := base(id)
		ce.Context.(*cloudevents.EventContextV1).Subject = &subject
		return ce
	}
	year0 := base("year-0")
	year0.Context.(*cloudevents.EventContextV1).Time = &types.Timestamp{Time: time.Date(0, 12, 31, 23, 0, 0, 0, time.UTC)}
	refused := map[string]cloudevents.Event{
		"NUL in an extension":          withExt("ext-nul", "a\x00b"),
		"unpaired surrogate in data":   withData("lone", `{"k":"\ud800"}`),
		"NUL escape deep in data":      withData("nul", `{"a":[{"\u0000":1}]}`),
		"invalid UTF-8 in data":        withData("utf8-data", `{"k":"`+"\xff"+`"}`),
		"invalid UTF-8 in subject":     withSubject("utf8-subject", "\xff"),
		"number past numeric":          withData("num-big", `{"n":1e131072}`),
		"number too precise":           withData("num-precise", `{"n":1.`+strings.Repeat("0", 16384)+`}`),
		"zero with a huge exponent":    withData("num-exp", `{"n":0e1073741823}`),
		"time before year 1":           year0,
		"properties nested too deeply": withData("deep", `{"a":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`}`),
	}
	for name, ce := range refused {
		require.Error(t, event.Validate(&ce, 0, event.Limits{MaxEventBytes: 1 << 20, MaxPropertyKeyBytes: 128, MaxFutureSkew: time.Hour}, now), "%s passes ingest", name)
		_, err := s.InsertEvents(ctx, []*event.Event{{Project: "p", CE: ce, ReceivedAt: now}})
		require.Error(t, err, "%s is stored after all: ingest need not reject it", name)
		t.Logf("%s: %v", name, err)
	}
}
