package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/ingest"
	"github.com/eventfn/eventfn/shared/openapitest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/testenv"
)

// Keys every harness accepts.
const (
	writeKey      = "wk_shop"
	readKey       = "rk_shop"
	otherWriteKey = "wk_other"
)

// harness is a real ingest function served over HTTP, on a Redis prefix
// and a stream of its own.
type harness struct {
	url string
	cfg ingest.Config
	js  jetstream.JetStream
	reg *prometheus.Registry
	// client checks every exchange against the function's OpenAPI document.
	client *http.Client
}

func newHarness(t *testing.T, natsURL string, mutate func(*ingest.Config)) *harness {
	t.Helper()
	return newHarnessTB(t, natsURL, mutate)
}

func newHarnessTB(t testing.TB, natsURL string, mutate func(*ingest.Config)) *harness {
	t.Helper()
	var cfg ingest.Config
	require.NoError(t, config.Load(&cfg))
	cfg.Redis, _ = testenv.Redis(t)
	cfg.NATS = testenv.NATS(t, natsURL)
	cfg.Auth = config.Auth{APIKeys: writeKey + "=shop:write," + readKey + "=shop:read," + otherWriteKey + "=other:write"}
	cfg.PublishTimeout = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	require.NoError(t, cfg.Validate())
	reg := prometheus.NewRegistry()
	log := discardLogger()
	fn, err := ingest.New(context.Background(), cfg, serve.Deps{Logger: log, Registerer: reg})
	require.NoError(t, err)
	fn.Name = "ingest"
	srv := httptest.NewServer(serve.NewServer(fn, log, reg, reg))
	// As Main runs it: the benchmark measures the deployed setting.
	restoreGC := serve.TuneGC(fn)
	t.Cleanup(func() {
		restoreGC()
		srv.Close()
		fn.Close()
	})
	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	doc := openapitest.Fetch(t, srv.URL+"/openapi.json")
	if cfg.AuthDisabled {
		doc = doc.AuthDisabled()
	}
	client := doc.Client(t)
	return &harness{url: srv.URL, cfg: cfg, js: js, reg: reg, client: client}
}

// response is an answer as a client sees it.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r response) int(field string) int {
	v, _ := r.body[field].(float64)
	return int(v)
}

func (r response) rejected() []map[string]any {
	list, _ := r.body["rejected"].([]any)
	out := make([]map[string]any, len(list))
	for i, v := range list {
		out[i], _ = v.(map[string]any)
	}
	return out
}

func (h *harness) post(t *testing.T, key string, header http.Header, body string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/", bytes.NewBufferString(body))
	require.NoError(t, err)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "body %s", raw)
	require.NoError(t, json.Unmarshal(raw, &r.body), "body %s", raw)
	return r
}

func (h *harness) get(t *testing.T, path string) response {
	t.Helper()
	resp, err := h.client.Get(h.url + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// streamCount counts the events the harness's stream holds.
func (h *harness) streamCount(t *testing.T) uint64 {
	t.Helper()
	return uint64(len(h.streamEvents(t)))
}

// streamed is one event on the stream, with the subject of its message.
type streamed struct {
	subject string
	event.Record
}

// streamEvents returns every event on the stream, in order, each message
// read as consume-batch reads it.
func (h *harness) streamEvents(t *testing.T) []streamed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, h.cfg.Stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var out []streamed
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		recs, err := bus.DecodeMsg(m.Header, m.Data, m.Time)
		require.NoError(t, err, "what the stream holds can be read back")
		for _, r := range recs {
			out = append(out, streamed{subject: m.Subject, Record: r})
		}
	}
	return out
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

var (
	structured = hdr("Content-Type", "application/cloudevents+json")
	batch      = hdr("Content-Type", "application/cloudevents-batch+json")
	simple     = hdr("Content-Type", "application/json")
)

// ce returns a structured CloudEvent JSON with the given id and fields.
func ce(id string, extra ...string) string {
	m := map[string]any{"specversion": "1.0", "id": id, "source": "/web", "type": "page_view", "subject": "user-1"}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "<absent>" {
			delete(m, extra[i])
			continue
		}
		var v any
		if json.Unmarshal([]byte(extra[i+1]), &v) != nil {
			v = extra[i+1]
		}
		m[extra[i]] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func batchOf(events ...string) string {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, e := range events {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(e)
	}
	buf.WriteByte(']')
	return buf.String()
}

// fields are the attributes a test compares of a stored message.
type fields struct {
	Source, Type, Subject, Time, Data string
}

func fieldsOf(r event.Record) fields {
	return fields{
		Source: r.Source, Type: r.Type, Subject: r.Subject,
		Time: r.Time.UTC().Format(time.RFC3339), Data: string(r.Props) + string(r.Data),
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
