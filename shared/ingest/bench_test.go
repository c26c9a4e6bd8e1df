package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/ingest"
	"github.com/eventfn/eventfn/shared/testenv"
)

// benchEvent is the shape of every benchmark event: a typical page view
// with a few properties (~300 bytes).
const benchEvent = `{"specversion":"1.0","id":"%s","source":"/bench","type":"page_view","subject":"user-%d","time":"2026-11-20T10:00:00Z","data":{"path":"/products/42","referrer":"https://example.com/","plan":"pro","country":"UA","n":%d}}`

var benchSeq atomic.Int64

// batchTemplate is a batch of n bench events whose ids and subjects are
// digits that stamp overwrites, so that building each request costs the
// client a copy rather than formatting: the client shares the machine's
// two cores with the server it measures.
type batchTemplate struct {
	body []byte
	ids  []int // offsets of the 16-digit id numbers
}

const idDigits = 16

func newBatchTemplate(n int) *batchTemplate {
	var buf bytes.Buffer
	t := &batchTemplate{}
	buf.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		ev := fmt.Sprintf(benchEvent, "b"+strings.Repeat("0", idDigits), i%100000, i)
		t.ids = append(t.ids, buf.Len()+strings.Index(ev, `"id":"b`)+len(`"id":"b`))
		buf.WriteString(ev)
	}
	buf.WriteByte(']')
	t.body = buf.Bytes()
	return t
}

// stamp returns a copy of the batch with ids never used before.
func (t *batchTemplate) stamp() []byte {
	b := bytes.Clone(t.body)
	first := benchSeq.Add(int64(len(t.ids))) - int64(len(t.ids))
	for i, off := range t.ids {
		v := first + int64(i)
		for d := off + idDigits - 1; d >= off; d-- {
			b[d] = byte('0' + v%10)
			v /= 10
		}
	}
	return b
}

// BenchmarkIngestHTTP measures accepted events/s through the real HTTP
// handler, dedup and JetStream acks, with several clients at once.
func BenchmarkIngestHTTP(b *testing.B) {
	for _, size := range []int{100, 500} {
		b.Run("batch="+strconv.Itoa(size), func(b *testing.B) {
			h := newBenchHarness(b)
			tmpl := newBatchTemplate(size)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var accepted atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, h.url+"/", bytes.NewReader(tmpl.stamp()))
					req.Header.Set("Content-Type", "application/cloudevents-batch+json")
					req.Header.Set("Authorization", "Bearer "+writeKey)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					accepted.Add(int64(size))
				}
			})
			b.ReportMetric(float64(accepted.Load())/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkJetStreamPublishRaw is the ceiling ingest is measured against:
// the same events published straight to a file-storage stream, async, with
// message ids, waiting for every ack, with the same number of publishers.
// Two layouts of the same bytes: one message per event, as ingest wrote
// them before, and one message per batch, as ingest writes a request now
// (per=batch).
func BenchmarkJetStreamPublishRaw(b *testing.B) {
	for _, size := range []int{100, 500} {
		for _, perBatch := range []bool{false, true} {
			name := "batch=" + strconv.Itoa(size)
			if perBatch {
				name += "/per=batch"
			}
			b.Run(name, func(b *testing.B) { benchPublishRaw(b, size, perBatch) })
		}
	}
}

func benchPublishRaw(b *testing.B, size int, perBatch bool) {
	cfg := testenv.NATS(b, testenv.NATSURL())
	bs, err := bus.Connect(cfg, "bench", discardLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	if err := bs.EnsureStreams(context.Background()); err != nil {
		b.Fatal(err)
	}
	payload := []byte(fmt.Sprintf(benchEvent, "x", 1, 1))
	var published atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var msgs []*nats.Msg
			if perBatch {
				m := nats.NewMsg(bs.EventsSubject("shop"))
				m.Data = bytes.Repeat(payload, size)
				m.Header.Set(jetstream.MsgIDHeader, strconv.FormatInt(benchSeq.Add(1), 36))
				msgs = []*nats.Msg{m}
			} else {
				msgs = make([]*nats.Msg, size)
				for i := range msgs {
					m := nats.NewMsg(bs.EventsSubject("shop"))
					m.Data = payload
					m.Header.Set(jetstream.MsgIDHeader, strconv.FormatInt(benchSeq.Add(1), 36))
					msgs[i] = m
				}
			}
			if _, err := bs.PublishAll(context.Background(), msgs); err != nil {
				b.Error(err)
				return
			}
			published.Add(int64(size))
		}
	})
	b.ReportMetric(float64(published.Load())/time.Since(start).Seconds(), "events/s")
}

func newBenchHarness(b *testing.B) *harness {
	b.Helper()
	// newHarness takes a *testing.T for its helpers; a benchmark's TB
	// cleanups run the same way.
	return newHarnessTB(b, testenv.NATSURL(), func(c *ingest.Config) {
		c.RateLimitEventsPerSecond = 0
		c.RateLimitRequestsPerMinute = 0
	})
}
