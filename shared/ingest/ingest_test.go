package ingest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/ingest"
	"github.com/eventfn/eventfn/shared/testenv"
)

func TestIngestBodyModes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	past := "2026-11-01T10:00:00Z"
	tests := []struct {
		name    string
		header  http.Header
		body    string
		want    int
		wantIDs []string
	}{
		{"binary", hdr("ce-specversion", "1.0", "ce-id", "b1", "ce-source", "/app", "ce-type", "signup",
			"ce-subject", "u-b", "ce-time", past, "Content-Type", "application/json"), `{"plan":"pro"}`, 1, []string{"b1"}},
		{"structured", structured, ce("s1", "time", past, "data", `{"plan":"pro"}`), 1, []string{"s1"}},
		{"batch", batch, batchOf(ce("m1"), ce("m2"), ce("m3")), 3, []string{"m1", "m2", "m3"}},
		{"simple", simple, `{"events":[{"event_id":"j1","event_type":"signup","user_id":42,"timestamp":"` + past + `","properties":{"plan":"pro"}}]}`, 1, []string{"j1"}},
	}
	for _, tc := range tests {
		r := h.post(t, writeKey, tc.header, tc.body)
		assert.Equal(t, http.StatusAccepted, r.status, "%s: %s", tc.name, r.raw)
		assert.Equal(t, tc.want, r.int("accepted"), tc.name)
		assert.Equal(t, 0, r.int("duplicates"), tc.name)
		assert.Empty(t, r.rejected(), tc.name)
	}
	evs := h.streamEvents(t)
	require.Len(t, evs, 6)
	byID := map[string]fields{}
	for _, ev := range evs {
		assert.Equal(t, "shop", ev.Project)
		assert.Equal(t, h.cfg.Subject+".shop", ev.subject)
		byID[ev.ID] = fieldsOf(ev.Record)
	}
	assert.Equal(t, fields{Source: "/app", Type: "signup", Subject: "u-b", Time: past, Data: `{"plan":"pro"}`}, byID["b1"])
	assert.Equal(t, fields{Source: "/web", Type: "page_view", Subject: "user-1", Time: past, Data: `{"plan":"pro"}`}, byID["s1"])
	assert.Equal(t, fields{Source: "simple", Type: "signup", Subject: "42", Time: past, Data: `{"plan":"pro"}`}, byID["j1"])
	assert.NotEmpty(t, byID["m1"].Time, "an absent time becomes the receive time")
}

// Media types are case-insensitive. The CloudEvents SDK compares them as
// written: given application/JSON it wrote binary data onto the stream as
// JSON it then could not read back, so the event, answered accepted, was
// dead-lettered. Every mode now reads them in lower case, and an empty
// ce-time is an absent time, as "time": "" is.
func TestMediaTypesAreCaseInsensitive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	for _, req := range []struct {
		header http.Header
		body   string
	}{
		{hdr("ce-specversion", "1.0", "ce-id", "b1", "ce-source", "/app", "ce-type", "t", "ce-time", "",
			"Content-Type", "Application/JSON; charset=UTF-8"), `{"plan":"pro"}`},
		{structured, ce("s1", "datacontenttype", "TEXT/JSON", "data", `{"plan":"pro"}`)},
		{structured, ce("s2", "datacontenttype", "application/JSON", "data", `"{\"a\":1}"`)},
	} {
		r := h.post(t, writeKey, req.header, req.body)
		require.Equal(t, http.StatusAccepted, r.status, r.raw)
		require.Equal(t, 1, r.int("accepted"), r.raw)
	}
	got := map[string][2]string{}
	for _, ev := range h.streamEvents(t) {
		if ev.ID == "b1" {
			assert.False(t, ev.Time.IsZero(), "the receive time")
		}
		got[ev.ID] = [2]string{ev.DataContentType, string(ev.Props) + string(ev.Data)}
	}
	assert.Equal(t, map[string][2]string{
		"b1": {"application/json; charset=UTF-8", `{"plan":"pro"}`},
		"s1": {"text/json", `{"plan":"pro"}`},
		"s2": {"application/json", `"{\"a\":1}"`}, // a JSON string, as with application/json
	}, got)
}

func TestIngestDuplicatesInsideBatchAndAcrossRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)

	r := h.post(t, writeKey, batch, batchOf(ce("a"), ce("b"), ce("a", "type", "other"), ce("a", "source", "/other")))
	assert.Equal(t, http.StatusAccepted, r.status, r.raw)
	assert.Equal(t, 3, r.int("accepted"), "same id from another source is another event")
	assert.Equal(t, 1, r.int("duplicates"))

	r = h.post(t, writeKey, batch, batchOf(ce("a"), ce("b"), ce("c")))
	assert.Equal(t, http.StatusAccepted, r.status, r.raw)
	assert.Equal(t, 1, r.int("accepted"))
	assert.Equal(t, 2, r.int("duplicates"))

	r = h.post(t, otherWriteKey, structured, ce("a"))
	assert.Equal(t, 1, r.int("accepted"), "identity includes the project")
	assert.Equal(t, uint64(5), h.streamCount(t))
}

func TestIngestConcurrentSendersOfOneEventGetOneAccepted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	const senders = 8
	var wg sync.WaitGroup
	results := make([]response, senders)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.post(t, writeKey, batch, batchOf(ce("race-1"), ce("race-2")))
		}()
	}
	wg.Wait()
	accepted, dups := 0, 0
	for _, r := range results {
		require.Equal(t, http.StatusAccepted, r.status, r.raw)
		accepted += r.int("accepted")
		dups += r.int("duplicates")
	}
	assert.Equal(t, 2, accepted)
	assert.Equal(t, 2*senders-2, dups)
	assert.Equal(t, uint64(2), h.streamCount(t))
}

func TestIngestAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	tests := []struct {
		name string
		key  string
		want int
	}{
		{"missing key", "", http.StatusUnauthorized},
		{"unknown key", "nope", http.StatusUnauthorized},
		{"read key", readKey, http.StatusForbidden},
		{"write key", writeKey, http.StatusAccepted},
	}
	for _, tc := range tests {
		r := h.post(t, tc.key, structured, ce("auth-"+tc.name))
		assert.Equal(t, tc.want, r.status, "%s: %s", tc.name, r.raw)
		if tc.want >= 400 {
			assert.NotEmpty(t, r.body["error"], tc.name)
			assert.NotContains(t, r.raw, "other", "errors never name another project")
		}
	}

	// Auth comes before the body is read: a client without a key learns
	// that, not that its body is too large.
	small := newHarness(t, testenv.NATSURL(), func(c *ingest.Config) { c.MaxBodyBytes = 4096 })
	big := batchOf(ce("big", "data", `{"a":"`+strings.Repeat("y", 5000)+`"}`))
	for key, want := range map[string]int{"": http.StatusUnauthorized, "nope": http.StatusUnauthorized, readKey: http.StatusForbidden, writeKey: http.StatusRequestEntityTooLarge} {
		r := small.post(t, key, batch, big)
		assert.Equal(t, want, r.status, "key %q: %s", key, r.raw)
	}

	disabled := newHarness(t, testenv.NATSURL(), func(c *ingest.Config) { c.AuthDisabled = true })
	r := disabled.post(t, "", structured, ce("x"))
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	evs := disabled.streamEvents(t)
	require.Len(t, evs, 1)
	assert.Equal(t, disabled.cfg.Subject+".default", evs[0].subject)
}

func TestIngestStatusTable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), func(c *ingest.Config) {
		c.MaxBatchEvents = 5
		c.MaxBodyBytes = 4096
		c.MaxEventBytes = 1024
	})
	future := time.Now().Add(25 * time.Hour).UTC().Format(time.RFC3339)
	nearFuture := time.Now().Add(23 * time.Hour).UTC().Format(time.RFC3339)
	big := strings.Repeat("x", 1100)
	tests := []struct {
		name         string
		header       http.Header
		body         string
		want         int
		wantAccepted int
		wantRejected []int
		wantError    string
	}{
		{"some rejected", batch, batchOf(ce("ok1"), ce("", "id", "<absent>"), ce("ok2")), http.StatusMultiStatus, 2, []int{1}, "id is required"},
		{"all rejected", batch, batchOf(ce("r1", "type", "<absent>"), ce("r2", "source", "<absent>")), http.StatusBadRequest, 0, []int{0, 1}, "is required"},
		{"unreadable body", batch, `[{"specversion":`, http.StatusBadRequest, 0, nil, "JSON array"},
		{"structured not an object", structured, `[1]`, http.StatusBadRequest, 0, nil, "one JSON object"},
		{"no events", batch, `[]`, http.StatusBadRequest, 0, nil, "no events"},
		{"unsupported content type", hdr("Content-Type", "text/plain"), "hi", http.StatusUnsupportedMediaType, 0, nil, "unsupported content type"},
		{"no content type", http.Header{}, "{}", http.StatusUnsupportedMediaType, 0, nil, "unsupported content type"},
		{"too many events", batch, batchOf(ce("1"), ce("2"), ce("3"), ce("4"), ce("5"), ce("6")), http.StatusRequestEntityTooLarge, 0, nil, "over the limit of 5"},
		{"body too large", batch, batchOf(ce("1", "data", `{"a":"`+strings.Repeat("y", 5000)+`"}`)), http.StatusRequestEntityTooLarge, 0, nil, "over the limit of 4096"},
		{"event too large", batch, batchOf(ce("big", "data", `{"a":"`+big+`"}`), ce("small")), http.StatusMultiStatus, 1, []int{0}, "over the limit of 1024"},
		{"future time", batch, batchOf(ce("f1", "time", future), ce("f2", "time", nearFuture)), http.StatusMultiStatus, 1, []int{0}, "in the future"},
		{"bad time", structured, ce("t1", "time", "yesterday"), http.StatusBadRequest, 0, []int{0}, `time \"yesterday\" is not an RFC 3339 timestamp`},
		{"specversion 0.3", structured, ce("v1", "specversion", `"0.3"`), http.StatusBadRequest, 0, []int{0}, "specversion"},
		{"JSON data that is not an object", structured, ce("d1", "data", `[1,2]`), http.StatusAccepted, 1, nil, ""},
		{"invalid JSON data in binary mode", hdr("ce-specversion", "1.0", "ce-id", "bj", "ce-source", "s", "ce-type", "t", "Content-Type", "application/json"), "{broken", http.StatusBadRequest, 0, []int{0}, "not valid JSON"},
		{"long property key", structured, ce("k1", "data", `{"`+strings.Repeat("k", 129)+`":1}`), http.StatusBadRequest, 0, []int{0}, "property key"},
		{"long id", structured, ce(strings.Repeat("i", 257)), http.StatusBadRequest, 0, []int{0}, "id is 257 bytes"},
		{"binary without specversion", hdr("ce-id", "x", "ce-source", "s", "ce-type", "t"), "{}", http.StatusBadRequest, 0, nil, "ce-specversion"},
		{"simple with a misspelt member", simple, `{"events":[{"event_id":"m1","event_type":"x","userid":"u1"},{"event_id":"m2","event_type":"x","user_id":"u2"}]}`, http.StatusMultiStatus, 1, []int{0}, `unknown member \"userid\" (did you mean \"user_id\"?)`},
		{"simple without event_id", simple, `{"events":[{"event_type":"x"},{"event_id":"s2","event_type":"x"}]}`, http.StatusMultiStatus, 1, []int{0}, "event_id is required"},
		{"malformed structured", structured, `{bad`, http.StatusBadRequest, 0, nil, "body must be one JSON object (a structured CloudEvent); it is not valid JSON: unexpected 'b' at offset 1"},
		{"second structured event", structured, ce("two1") + "," + ce("two2"), http.StatusBadRequest, 0, nil, "content after the JSON value"},
		{"garbage after structured", structured, ce("g1") + " garbage", http.StatusBadRequest, 0, nil, "content after the JSON value"},
		{"garbage after batch", batch, batchOf(ce("g2")) + " garbage", http.StatusBadRequest, 0, nil, "content after the JSON value"},
		{"garbage after simple", simple, `{"events":[{"event_id":"g3","event_type":"x"}]} garbage`, http.StatusBadRequest, 0, nil, "content after the JSON value"},
		{"non-JSON data kept as bytes", hdr("ce-specversion", "1.0", "ce-id", "bin", "ce-source", "s", "ce-type", "t", "Content-Type", "image/png"), "\x89PNG", http.StatusAccepted, 1, nil, ""},
	}
	for _, tc := range tests {
		r := h.post(t, writeKey, tc.header, tc.body)
		assert.Equal(t, tc.want, r.status, "%s: %s", tc.name, r.raw)
		if tc.wantAccepted > 0 || tc.wantRejected != nil {
			assert.Equal(t, tc.wantAccepted, r.int("accepted"), tc.name)
			var idx []int
			for _, rej := range r.rejected() {
				idx = append(idx, int(rej["index"].(float64)))
			}
			assert.Equal(t, tc.wantRejected, idx, "%s: %s", tc.name, r.raw)
		}
		if tc.wantError != "" {
			assert.Contains(t, r.raw, tc.wantError, tc.name)
		}
		assert.NotContains(t, r.raw, `\n`, "%s: messages are one line", tc.name)
	}
	assert.Equal(t, uint64(8), h.streamCount(t), "only the accepted events are on the stream")
	r := h.get(t, "/")
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
}

// TestIngestRejectsWhatTheDatabaseWouldRefuse: an event that PostgreSQL
// would refuse is rejected at once, by index, in every mode; accepted, it
// would be dead-lettered by the consumer, and its dedup mark would make
// every re-send a duplicate of an event that was never stored.
func TestIngestRejectsWhatTheDatabaseWouldRefuse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	tests := []struct {
		name      string
		header    http.Header
		body      string
		wantError string
	}{
		{"NUL in an extension", batch, batchOf(ce("ok"), `{"specversion":"1.0","id":"x1","source":"/web","type":"t","myext":"a\u0000b"}`), "extension myext must not contain NUL"},
		{"unpaired surrogate in data", batch, batchOf(ce("ok"), `{"specversion":"1.0","id":"x2","source":"/web","type":"t","data":{"k":"\ud800"}}`), "data holds an unpaired UTF-16 surrogate"},
		{"NUL deep in data", batch, batchOf(ce("ok"), `{"specversion":"1.0","id":"x3","source":"/web","type":"t","data":{"a":[{"\u0000":1}]}}`), "data must not contain NUL"},
		{"invalid UTF-8 subject", batch, batchOf(ce("ok"), `{"specversion":"1.0","id":"x4","source":"/web","type":"t","subject":"`+"\xff"+`"}`), "subject is not valid UTF-8"},
		{"invalid UTF-8 in simple", simple, `{"events":[{"event_id":"ok","event_type":"t"},{"event_id":"x5","event_type":"` + "\xff" + `"}]}`, "event_type is not valid UTF-8"},
		{"decimal extension", batch, batchOf(ce("ok"), ce("x6", "price", "2.75")), "extension price: 2.75 is not an integer"},
		{"capital extension name", batch, batchOf(ce("ok"), ce("x7", "MyExt", `"v"`)), `extension attribute name \"MyExt\" is not valid`},
		{"unparseable dataschema", batch, batchOf(ce("ok"), ce("x8", "dataschema", "%zz")), `dataschema \"%zz\" is not an absolute URI`},
		{"decimal simple id", simple, `{"events":[{"event_id":"ok","event_type":"t"},{"event_id":1.5,"event_type":"t"}]}`, "event_id 1.5 is not an integer"},
	}
	for _, tc := range tests {
		for try := range 2 {
			r := h.post(t, writeKey, tc.header, tc.body)
			require.Equal(t, http.StatusMultiStatus, r.status, "%s: %s", tc.name, r.raw)
			rej := r.rejected()
			require.Len(t, rej, 1, tc.name)
			assert.Equal(t, 1.0, rej[0]["index"], tc.name)
			assert.Contains(t, r.raw, tc.wantError, tc.name)
			if try == 1 {
				assert.Equal(t, 0, r.int("accepted"), "%s: a re-send is rejected again, never a duplicate", tc.name)
			}
		}
	}
	// Binary mode: the attributes come in headers.
	r := h.post(t, writeKey, hdr("ce-specversion", "1.0", "ce-id", "b1", "ce-source", "/app", "ce-type", "t", "ce-subject", "\xff"), "")
	assert.Equal(t, http.StatusBadRequest, r.status, r.raw)
	assert.Contains(t, r.raw, "subject is not valid UTF-8")
	r = h.post(t, writeKey, hdr("ce-specversion", "1.0", "ce-id", "b2", "ce-source", "/app", "ce-type", "t", "Content-Type", "application/json"), `{"k":"\udc00"}`)
	assert.Equal(t, http.StatusBadRequest, r.status, r.raw)
	assert.Contains(t, r.raw, "data holds an unpaired UTF-16 surrogate")

	require.Len(t, h.streamEvents(t), 2, "only the two good events, ok from /web and from simple")
}

// TestIngestKeepsEventsAsSent: what reaches the stream is what was sent.
func TestIngestKeepsEventsAsSent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	r := h.post(t, writeKey, batch, batchOf(
		ce("year1", "time", "0001-01-01T00:00:00Z"),
		ce("nulldata", "data", "null"),
		ce("ext", "count", "7", "flag", "true", "note", `"2.75"`),
	))
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	r = h.post(t, writeKey, simple, `{"events":[{"event_id":1.5e3,"event_type":"t","user_id":42.0}]}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)

	byID := map[string]event.Record{}
	for _, ev := range h.streamEvents(t) {
		byID[ev.ID] = ev.Record
	}
	require.Contains(t, byID, "year1")
	assert.Equal(t, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), byID["year1"].Time, "a present time is kept, whatever it is")
	assert.Nil(t, byID["nulldata"].Props, "null data is no data")
	assert.Nil(t, byID["nulldata"].Data, "null data is no data")
	assert.JSONEq(t, `{"count": 7, "flag": true, "note": "2.75"}`, string(byID["ext"].Extensions))
	require.Contains(t, byID, "1500", "a numeric id is its value")
	assert.Equal(t, "42", byID["1500"].Subject)
}

func TestIngestRejectionNamesTheEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	r := h.post(t, writeKey, batch, batchOf(ce("good"), ce("bad-one", "type", "<absent>")))
	require.Equal(t, http.StatusMultiStatus, r.status, r.raw)
	rej := r.rejected()
	require.Len(t, rej, 1)
	assert.Equal(t, map[string]any{"index": 1.0, "id": "bad-one", "error": "type is required"}, rej[0])
}

func TestIngestRateLimits(t *testing.T) {
	t.Parallel()
	t.Run("events per project", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, testenv.NATSURL(), func(c *ingest.Config) {
			c.MaxBatchEvents = 4
			c.RateLimitEventsPerSecond = 1
			c.RateLimitEventsBurst = 4
		})
		r := h.post(t, writeKey, batch, batchOf(ce("1"), ce("2"), ce("3")))
		require.Equal(t, http.StatusAccepted, r.status, r.raw)
		assert.Equal(t, "4", r.header.Get("RateLimit-Limit"), "the bucket's size: the burst")
		assert.Equal(t, "1", r.header.Get("RateLimit-Remaining"))
		assert.Equal(t, "3", r.header.Get("RateLimit-Reset"), "3 events at 1/s until the bucket is full again")

		r = h.post(t, writeKey, batch, batchOf(ce("4"), ce("5"), ce("6")))
		require.Equal(t, http.StatusTooManyRequests, r.status, r.raw)
		assert.NotEmpty(t, r.body["error"])
		assert.GreaterOrEqual(t, atoi(t, r.header.Get("Retry-After")), 1)
		assert.Equal(t, "0", r.header.Get("RateLimit-Remaining"))
		assert.Equal(t, uint64(3), h.streamCount(t), "a 429 accepts nothing")

		r = h.post(t, otherWriteKey, batch, batchOf(ce("4"), ce("5"), ce("6")))
		assert.Equal(t, http.StatusAccepted, r.status, "each project has its own budget: %s", r.raw)
	})
	t.Run("remaining never exceeds the limit", func(t *testing.T) {
		t.Parallel()
		// Defaults: 20000 events/s, burst 40000.
		h := newHarness(t, testenv.NATSURL(), nil)
		r := h.post(t, writeKey, batch, batchOf(ce("1"), ce("2")))
		require.Equal(t, http.StatusAccepted, r.status, r.raw)
		assert.Equal(t, "40000", r.header.Get("RateLimit-Limit"))
		// GCRA computes it in floating point: 39998 or a hair under.
		assert.InDelta(t, 39998, atoi(t, r.header.Get("RateLimit-Remaining")), 1)
		assert.Equal(t, "1", r.header.Get("RateLimit-Reset"))
	})
	t.Run("requests per client IP", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, testenv.NATSURL(), func(c *ingest.Config) { c.RateLimitRequestsPerMinute = 2 })
		for i := range 2 {
			r := h.post(t, writeKey, structured, ce(fmt.Sprint(i)))
			require.Equal(t, http.StatusAccepted, r.status, r.raw)
		}
		r := h.post(t, writeKey, structured, ce("3"))
		require.Equal(t, http.StatusTooManyRequests, r.status, r.raw)
		assert.GreaterOrEqual(t, atoi(t, r.header.Get("Retry-After")), 1)
		assert.Equal(t, "2", r.header.Get("RateLimit-Limit"))
	})
}

// TestIngestNoSilentLossWhenNATSDown is the fault drill of the contract's
// 503: the broker goes away, the client is told to retry, and the retry is
// counted as accepted, never as duplicates, with each event on the stream
// once.
func TestIngestNoSilentLossWhenNATSDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNATS(t)
	h := newHarness(t, srv.URL(), func(c *ingest.Config) { c.PublishTimeout = 2 * time.Second })
	r := h.post(t, writeKey, structured, ce("before"))
	require.Equal(t, http.StatusAccepted, r.status, r.raw)

	events := make([]string, 200)
	for i := range events {
		events[i] = ce(fmt.Sprintf("e%d", i))
	}
	body := batchOf(events...)

	srv.Stop()
	r = h.post(t, writeKey, batch, body)
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.raw)
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	assert.Contains(t, r.body["error"], "retry")
	ready := h.get(t, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, ready.status)
	assert.NotEmpty(t, ready.body["reason"])

	srv.Start()
	testenv.Eventually(t, 15*time.Second, func() bool { return h.get(t, "/readyz").status == http.StatusOK }, "ingest ready again")
	r = h.post(t, writeKey, batch, body)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	assert.Equal(t, 200, r.int("accepted"))
	assert.Equal(t, 0, r.int("duplicates"))
	assert.Equal(t, uint64(201), h.streamCount(t))
}

// TestIngestBrokerLostDuringRequest stops the broker while a large request
// is being published: whatever the answer, every event is on the stream
// exactly once after the client's retry, and the retry reports as accepted
// exactly what the first answer did not.
func TestIngestBrokerLostDuringRequest(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNATS(t)
	h := newHarness(t, srv.URL(), func(c *ingest.Config) { c.PublishTimeout = 2 * time.Second })
	events := make([]string, 1000)
	for i := range events {
		events[i] = ce(fmt.Sprintf("mid%d", i), "data", `{"pad":"`+strings.Repeat("p", 400)+`"}`)
	}
	body := batchOf(events...)

	done := make(chan response)
	go func() { done <- h.post(t, writeKey, batch, body) }()
	srv.Stop()
	first := <-done
	t.Logf("answer while the broker went away: %d", first.status)
	srv.Start()
	testenv.Eventually(t, 15*time.Second, func() bool { return h.get(t, "/readyz").status == http.StatusOK }, "ingest ready again")

	retry := h.post(t, writeKey, batch, body)
	require.Equal(t, http.StatusAccepted, retry.status, retry.raw)
	switch first.status {
	case http.StatusAccepted:
		assert.Equal(t, 1000, first.int("accepted"))
		assert.Equal(t, 1000, retry.int("duplicates"))
	case http.StatusServiceUnavailable:
		assert.Equal(t, 1000, retry.int("accepted"), "a 503'd request is accepted in full on retry")
		assert.Equal(t, 0, retry.int("duplicates"))
	default:
		t.Fatalf("first answer %d: %s", first.status, first.raw)
	}
	assert.Equal(t, uint64(1000), h.streamCount(t), "each event on the stream once")
}

func TestIngestRedisDownIs503(t *testing.T) {
	t.Parallel()
	rs := testenv.StartRedis(t)
	h := newHarness(t, testenv.NATSURL(), func(c *ingest.Config) { c.RedisURL = rs.URL() })
	r := h.post(t, writeKey, structured, ce("r1"))
	require.Equal(t, http.StatusAccepted, r.status, r.raw)

	rs.Stop()
	r = h.post(t, writeKey, batch, batchOf(ce("r1"), ce("r2")))
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.raw)
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	// The answer names what failed: the per-IP limit is checked first.
	assert.Contains(t, r.raw, "rate limit store (Redis) unavailable")
	ready := h.get(t, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, ready.status)
	assert.Contains(t, ready.raw, "redis (the dedup and rate limit store) at 127.0.0.1:")

	// A new, empty Redis forgot r1: it reaches the stream again, in a
	// message with r2 (a message id names the set of events it carries,
	// so only a retry of the same set is dropped by the stream), and the
	// consumer's identity table keeps it stored once.
	rs.Start()
	testenv.Eventually(t, 15*time.Second, func() bool { return h.get(t, "/readyz").status == http.StatusOK }, "ingest ready again")
	r = h.post(t, writeKey, batch, batchOf(ce("r1"), ce("r2")))
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	assert.Equal(t, 2, r.accepted()+r.int("duplicates"))
	var ids []string
	for _, ev := range h.streamEvents(t) {
		ids = append(ids, ev.ID)
	}
	assert.Equal(t, []string{"r1", "r1", "r2"}, ids)
	// The same request again is one message the stream already holds.
	r = h.post(t, writeKey, batch, batchOf(ce("r1"), ce("r2")))
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	assert.Equal(t, 2, r.int("duplicates"))
	assert.Equal(t, uint64(3), h.streamCount(t))
}

func TestIngestStandardEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	for _, p := range []string{"/healthz", "/_/health", "/readyz"} {
		assert.Equal(t, http.StatusOK, h.get(t, p).status, p)
	}
	h.post(t, writeKey, structured, ce("m"))
	metrics := h.get(t, "/metrics")
	assert.Contains(t, metrics.raw, `eventfn_ingest_events_total{outcome="accepted"} 1`)
	doc := h.get(t, "/openapi.json")
	require.Equal(t, http.StatusOK, doc.status)
	var spec map[string]any
	require.NoError(t, json.Unmarshal([]byte(doc.raw), &spec))
	assert.Equal(t, "3.1.0", spec["openapi"])
}

func (r response) accepted() int { return r.int("accepted") }

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err, "not a number: %q", s)
	return n
}

func TestIngestCORSForBrowserSDKs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), func(c *ingest.Config) { c.CORSAllowedOrigins = "https://shop.example" })
	req, err := http.NewRequest(http.MethodOptions, h.url+"/", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, "https://shop.example", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "authorization, content-type", resp.Header.Get("Access-Control-Allow-Headers"))

	r := h.post(t, writeKey, hdr("Content-Type", "application/cloudevents+json", "Origin", "https://shop.example"), ce("cors-1"))
	assert.Equal(t, http.StatusAccepted, r.status)
	assert.Equal(t, "https://shop.example", r.header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, r.header.Get("Access-Control-Expose-Headers"), "RateLimit-Remaining")

	r = h.post(t, writeKey, hdr("Content-Type", "application/cloudevents+json", "Origin", "https://evil.example"), ce("cors-2"))
	assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"), "other origins get no CORS grant")
}

// TestIngestForwardedForCannotBeSpoofed: behind a gateway, the per-IP limit
// counts the address the gateway appended, whatever the client prepended.
func TestIngestForwardedForCannotBeSpoofed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), func(c *ingest.Config) {
		c.RateLimitRequestsPerMinute = 1
		c.TrustForwardedFor = true
	})
	r := h.post(t, writeKey, hdr("Content-Type", "application/cloudevents+json", "X-Forwarded-For", "1.1.1.1, 203.0.113.9"), ce("x1"))
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	r = h.post(t, writeKey, hdr("Content-Type", "application/cloudevents+json", "X-Forwarded-For", "2.2.2.2, 203.0.113.9"), ce("x2"))
	assert.Equal(t, http.StatusTooManyRequests, r.status, "a new left-hand entry does not buy a new budget")
	r = h.post(t, writeKey, hdr("Content-Type", "application/cloudevents+json", "X-Forwarded-For", "203.0.113.10"), ce("x3"))
	assert.Equal(t, http.StatusAccepted, r.status, "another client behind the gateway has its own budget")
}
