package consume

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/openapitest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/testenv"
)

const adminKey = "adm_test"

// server boots the real consume-batch function over HTTP.
func (h *harness) server(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	fn, err := New(context.Background(), h.cfg, serve.Deps{Logger: log, Registerer: reg})
	require.NoError(t, err)
	srv := httptest.NewServer(serve.NewServer(fn, log, reg, reg))
	t.Cleanup(func() {
		srv.Close()
		fn.Close()
	})
	// call checks every exchange with it against its OpenAPI document.
	openapitest.Register(t, srv.URL)
	return srv.URL
}

type reply struct {
	status int
	body   map[string]any
	raw    string
}

func (r reply) int(field string) int {
	v, _ := r.body[field].(float64)
	return int(v)
}

func call(t *testing.T, method, url string, header http.Header, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	require.NoError(t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := openapitest.ClientFor(t, url).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := reply{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestFunctionDrainsOnPostWithAdminKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.AdminKey = adminKey })
	url := h.server(t)
	h.publish(t, newEvent("shop", "a", "page_view", "u1", time.Now()), newEvent("shop", "b", "page_view", "u2", time.Now()))

	assert.Equal(t, http.StatusUnauthorized, call(t, "POST", url+"/", nil, "").status)
	assert.Equal(t, http.StatusUnauthorized, call(t, "POST", url+"/", hdr("Authorization", "Bearer nope"), "").status)
	// Refused before the body is read: 401, not 413 for a body it should
	// not have sent.
	assert.Equal(t, http.StatusUnauthorized, call(t, "POST", url+"/", hdr("Content-Type", "application/cloudevents-batch+json"), strings.Repeat(" ", 2<<20)).status)
	r := call(t, "GET", url+"/", hdr("Authorization", "Bearer "+adminKey), "")
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)

	// A schedule's POST: empty body, no content type.
	r = call(t, "POST", url+"/", hdr("Authorization", "Bearer "+adminKey, "X-Connector", "cron-connector"), "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.JSONEq(t, `{"consumed":2,"inserted":2,"duplicates":0,"dead_lettered":0,"pending":0}`, r.raw)
	assert.Equal(t, 2, h.count(t, "SELECT count(*) FROM events"))

	r = call(t, "GET", url+"/readyz", nil, "")
	assert.Equal(t, http.StatusOK, r.status, r.raw)
	r = call(t, "GET", url+"/openapi.json", nil, "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "3.1.0", r.body["openapi"])
	r = call(t, "GET", url+"/metrics", nil, "")
	assert.Contains(t, r.raw, `eventfn_consume_messages_total{outcome="inserted"} 2`)

	// A person's curl -d '{}' drains too.
	r = call(t, "POST", url+"/", hdr("Authorization", "Bearer "+adminKey, "Content-Type", "application/json"), " {} ")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, 0, r.int("consumed"))
	// Events in a content type that is no CloudEvent mode are refused, not
	// taken for a drain and dropped.
	for _, body := range []struct{ contentType, body string }{
		{"application/json", `{"specversion":"1.0","id":"x1","source":"/x","type":"t"}`},
		{"application/json", `{"events":[{"event_id":"x2","event_type":"t"}]}`},
		{"text/plain", "hello"},
	} {
		r = call(t, "POST", url+"/", hdr("Authorization", "Bearer "+adminKey, "Content-Type", body.contentType, "Eventfn-Project", "shop"), body.body)
		assert.Equal(t, http.StatusUnsupportedMediaType, r.status, r.raw)
		assert.Contains(t, r.body["error"], "CloudEvents")
	}
	assert.Equal(t, 2, h.count(t, "SELECT count(*) FROM events"))
}

func TestFunctionStoresPushedEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	url := h.server(t)
	fix := refuseType(t, h)
	defer fix()

	// Binary mode, as a Knative subscription delivers, project in the header.
	binary := hdr("Ce-Specversion", "1.0", "Ce-Id", "k1", "Ce-Source", "/knative", "Ce-Type", "page_view",
		"Ce-Subject", "u1", "Ce-Time", "2026-11-01T10:00:00Z", "Content-Type", "application/json", "Eventfn-Project", "shop")
	r := call(t, "POST", url+"/", binary, `{"plan":"pro"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.JSONEq(t, `{"consumed":1,"inserted":1,"duplicates":0,"rejected":[]}`, r.raw)
	r = call(t, "POST", url+"/", binary, `{"plan":"pro"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.JSONEq(t, `{"consumed":1,"inserted":0,"duplicates":1,"rejected":[]}`, r.raw, "a redelivered push is a duplicate")

	// Structured mode, project in the extension attribute, which wins over
	// the header and is not stored.
	r = call(t, "POST", url+"/", hdr("Content-Type", "application/cloudevents+json", "Eventfn-Project", "shop"),
		`{"specversion":"1.0","id":"s1","source":"/x","type":"signup","eventfnproject":"other","traceparent":"00-ab","data":{"a":1}}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	var ext string
	require.NoError(t, h.pool.QueryRow(context.Background(),
		`SELECT extensions::text FROM events WHERE project = 'other' AND id = 's1'`).Scan(&ext))
	assert.JSONEq(t, `{"traceparent":"00-ab"}`, ext)

	// A batch: one good, one without a project, one invalid, one refused by
	// the database.
	r = call(t, "POST", url+"/", hdr("Content-Type", "application/cloudevents-batch+json"), `[
		{"specversion":"1.0","id":"b1","source":"/x","type":"t","eventfnproject":"shop"},
		{"specversion":"1.0","id":"b2","source":"/x","type":"t"},
		{"specversion":"1.0","source":"/x","type":"t","eventfnproject":"shop"},
		{"specversion":"1.0","id":"b4","source":"/x","type":"refused","eventfnproject":"shop"}]`)
	require.Equal(t, http.StatusMultiStatus, r.status, r.raw)
	assert.Equal(t, 1, r.int("inserted"))
	rejected, _ := r.body["rejected"].([]any)
	require.Len(t, rejected, 3, r.raw)
	for i, want := range []struct {
		index int
		error string
	}{{1, "no project"}, {2, "id"}, {3, "events of type refused are not allowed"}} {
		rej, _ := rejected[i].(map[string]any)
		assert.EqualValues(t, want.index, rej["index"])
		assert.Contains(t, rej["error"], want.error)
	}

	// Every event rejected: 400, nothing stored.
	r = call(t, "POST", url+"/", hdr("Content-Type", "application/cloudevents+json"),
		`{"specversion":"1.0","id":"n1","source":"/x","type":"t","time":"2999-01-01T00:00:00Z","eventfnproject":"shop"}`)
	assert.Equal(t, http.StatusBadRequest, r.status, r.raw)
	assert.Equal(t, 3, h.count(t, "SELECT count(*) FROM events"))

	r = call(t, "GET", url+"/metrics", nil, "")
	for outcome, n := range map[string]int{"inserted": 3, "duplicate": 1, "rejected": 4} {
		assert.Contains(t, r.raw, fmt.Sprintf(`eventfn_consume_pushed_events_total{outcome=%q} %d`, outcome, n))
	}
}

func TestContinuousModeStoresWithoutARequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.Continuous = true })
	c := h.consumer(t)
	fn := c.Function()
	require.NotNil(t, fn.Background)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn.Background(ctx) }()

	h.publish(t, newEvent("shop", "live-1", "page_view", "u1", time.Now()))
	testenv.Eventually(t, 10*time.Second, func() bool {
		return h.count(t, "SELECT count(*) FROM events WHERE id = 'live-1'") == 1
	}, "the loop did not store the event")
	h.publish(t, newEvent("shop", "live-2", "page_view", "u2", time.Now()))
	testenv.Eventually(t, 10*time.Second, func() bool {
		return h.count(t, "SELECT count(*) FROM events WHERE id = 'live-2'") == 1
	}, "the loop did not store the second event")
	testenv.Eventually(t, 10*time.Second, func() bool {
		return h.count(t, "SELECT count(*) FROM rollup_feed") == 0 && h.count(t, "SELECT count(*) FROM rollup_users") == 2
	}, "the materializer did not move the events into the rollups")
	testenv.Eventually(t, 20*time.Second, func() bool {
		return testutil.ToFloat64(c.m.materialized) == 2 && testutil.ToFloat64(c.m.rollupBacklog) == 0 &&
			testutil.ToFloat64(c.m.pending) == 0 && testutil.ToFloat64(c.m.deadLetters) == 0
	}, "the gauges were not read")
	// Every step writes its columns and commits: those phases took time.
	for _, phase := range []string{"columns", "commit"} {
		assert.Positive(t, testutil.ToFloat64(c.m.rollupPhase.WithLabelValues(phase)), "phase %s", phase)
	}

	cancel()
	assert.NoError(t, <-done, "the loops stop with their context")
}

// Without CONSUME_CONTINUOUS nothing drains in the background, but the
// materializer still keeps the rollups caught up with what a drain or a
// push stores.
func TestBackgroundMaterializesWithoutContinuousDraining(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	c := h.consumer(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Function().Background(ctx) }()
	h.publish(t, newEvent("shop", "d-1", "page_view", "u1", time.Now()))
	testenv.Eventually(t, 10*time.Second, func() bool { return testutil.ToFloat64(c.m.pending) == 1 },
		"the lag gauge did not show the undelivered message")
	assert.Zero(t, h.count(t, "SELECT count(*) FROM events"), "nothing drains without a request")
	res, err := c.Drain(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, res.Inserted)
	testenv.Eventually(t, 10*time.Second, func() bool { return h.count(t, "SELECT count(*) FROM rollup_feed") == 0 },
		"the materializer did not move the drained event into the rollups")
	cancel()
	assert.NoError(t, <-done)
}

func TestPushWorksWhileNATSIsDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNATS(t)
	h := newHarness(t, srv.URL(), nil)
	url := h.server(t)
	srv.Stop()

	r := call(t, "POST", url+"/", hdr("Content-Type", "application/cloudevents+json", "Eventfn-Project", "shop"),
		`{"specversion":"1.0","id":"p1","source":"/x","type":"t"}`)
	assert.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, 1, h.count(t, "SELECT count(*) FROM events WHERE id = 'p1'"))
	r = call(t, "POST", url+"/", nil, "")
	assert.Equal(t, http.StatusServiceUnavailable, r.status, "a drain needs the stream: %s", r.raw)
	assert.Equal(t, http.StatusServiceUnavailable, call(t, "GET", url+"/readyz", nil, "").status)
}

// With push off, a pushed event is refused and stores nothing; a drain
// still works.
func TestFunctionRefusesPushWhenOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.Push = false })
	url := h.server(t)
	r := call(t, "POST", url+"/", hdr("Content-Type", "application/cloudevents+json", "Eventfn-Project", "shop"),
		`{"specversion":"1.0","id":"p1","source":"/x","type":"t"}`)
	assert.Equal(t, http.StatusForbidden, r.status, r.raw)
	assert.Contains(t, r.body["error"], "CONSUME_PUSH")
	r = call(t, "POST", url+"/", nil, "")
	assert.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, 0, h.count(t, "SELECT count(*) FROM events"))
}

// Past ROLLUP_MAX_BACKLOG_EVENTS in the feed the drain loop stops fetching
// (the stream keeps the rest) until the materializers caught up.
func TestDrainLoopHoldsWhileTheRollupsAreBehind(t *testing.T) {
	t.Parallel()
	const limit, batch, total = 100, perMsg, 400
	h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.MaxRollupBacklog, c.BatchSize = limit, batch })
	c := h.consumer(t)
	evs := make([]*event.Event, total)
	for i := range evs {
		evs[i] = newEvent("shop", fmt.Sprintf("held-%d", i), "page_view", fmt.Sprintf("u%d", i%7), time.Now())
	}
	h.publish(t, evs...)

	// The drain loop alone: no materializer runs until the test says so.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testenv.Eventually(t, 20*time.Second, func() bool {
		return h.count(t, "SELECT coalesce(sum(n), 0) FROM rollup_feed") >= limit
	}, "the loop did not store up to the limit")
	time.Sleep(500 * time.Millisecond)
	stored := h.count(t, "SELECT count(*) FROM events")
	// The loop fetches ahead of the batch in its transaction: up to three
	// batches may have passed the check before the feed reached the limit.
	assert.LessOrEqual(t, stored, limit+3*batch, "the loop kept storing past the rollup backlog limit")

	// Materializing lets it go on, until everything is stored once.
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, err := c.Materialize(context.Background())
		require.NoError(t, err)
		return h.count(t, "SELECT count(*) FROM events") == total
	}, "the loop did not resume once the rollups caught up")
	_, err := c.Materialize(context.Background())
	require.NoError(t, err)
	assert.Zero(t, h.count(t, "SELECT count(*) FROM rollup_feed"))
	assert.Equal(t, total, h.count(t, "SELECT sum(events)::int FROM rollup_type_days WHERE tz = 'UTC'"))
	assert.Positive(t, testutil.ToFloat64(c.m.held), "the time held is counted")
}
