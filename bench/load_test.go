package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// perRequest is the events of one ingest request in the benchmarks: a
// batch, as SDKs send them.
const perRequest = 500

// workload generates the events of one benchmark run: event i is the same
// whenever it is asked for, so a sender and the expected answer agree
// without keeping the events.
type workload struct {
	name string
	// prefix makes the ids of a run its own.
	prefix string
	start  time.Time
}

// newWorkload returns the named workload ("steady" or "scattered") of
// events timed in the days up to today.
func newWorkload(name string) *workload {
	return &workload{name: name, prefix: strconv.FormatInt(time.Now().UnixNano(), 36), start: time.Now().UTC().Truncate(24 * time.Hour)}
}

// typeName is the name of type t in w: a run's own, so that on a database
// holding earlier runs' events (EVENTFN_BENCH_DATABASE_URL) the run's
// answer can be told apart from theirs.
func (w *workload) typeName(t int) string {
	return fmt.Sprintf("type_%s_%02d", w.prefix, t)
}

// days are the UTC days the workload's events fall on, oldest first.
func (w *workload) days() (from, to time.Time) {
	if w.name == "steady" {
		return w.start, w.start
	}
	return w.start.AddDate(0, 0, -9), w.start
}

// event returns event i: its user, type and time. Steady is one day of
// sessions: some 5,000 users each sending about 20 events of 8 types, a
// few types far more often. Scattered is 10 days, 100k users, 50 types:
// nearly every event its user's first of its type that day.
func (w *workload) event(i int) (user, typ int, at time.Time) {
	r := rand.New(rand.NewPCG(uint64(i), 99))
	if w.name == "steady" {
		user = (i/20*7919 + r.IntN(3)) % 5000
		typ = int(8 * r.Float64() * r.Float64())
		at = w.start.Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
		return user, typ, at
	}
	return r.IntN(100000), r.IntN(50), w.start.AddDate(0, 0, -r.IntN(10)).Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
}

var plans = []string{"free", "pro", "team"}

// body returns the batch request of events [from, from+perRequest), about
// 300 bytes an event.
func (w *workload) body(buf []byte, from int) []byte {
	buf = append(buf[:0], '[')
	for i := from; i < from+perRequest; i++ {
		user, typ, at := w.event(i)
		if i > from {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"specversion":"1.0","id":"`...)
		buf = append(buf, w.prefix...)
		buf = append(buf, '-')
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, `","source":"/bench","type":"`...)
		buf = append(buf, w.typeName(typ)...)
		buf = append(buf, `","subject":"user-`...)
		buf = strconv.AppendInt(buf, int64(user), 10)
		buf = append(buf, `","time":"`...)
		buf = at.AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, `","data":{"path":"/products/`...)
		buf = strconv.AppendInt(buf, int64(i%1000), 10)
		buf = append(buf, `","referrer":"https://example.com/","plan":"`...)
		buf = append(buf, plans[user%3]...)
		buf = append(buf, `","country":"c`...)
		buf = strconv.AppendInt(buf, int64(user%20), 10)
		buf = append(buf, `","n":`...)
		buf = strconv.AppendInt(buf, int64(i%10), 10)
		buf = append(buf, "}}"...)
	}
	return append(buf, ']')
}

// expectTop is what stats-top must answer for events [0, n) of w over its
// days: the contract's definition, computed here on its own.
func (w *workload) expectTop(n int) []topEvent {
	counts := map[int]int64{}
	users := map[int]map[int]bool{}
	for i := range n {
		user, typ, _ := w.event(i)
		counts[typ]++
		if users[typ] == nil {
			users[typ] = map[int]bool{}
		}
		users[typ][user] = true
	}
	out := make([]topEvent, 0, len(counts))
	for typ, c := range counts {
		out = append(out, topEvent{Type: w.typeName(typ), Count: c, Users: int64(len(users[typ]))})
	}
	slices.SortFunc(out, func(a, b topEvent) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		if a.Type < b.Type {
			return -1
		}
		return 1
	})
	return out
}

type topEvent struct {
	Type  string `json:"type"`
	Count int64  `json:"count"`
	Users int64  `json:"users"`
}

// client sends requests as the contract tells clients to: a 503 or a cut
// connection is retried, the same request, after a pause.
type client struct {
	http *http.Client
	url  string
}

func newClient(url string) *client {
	return &client{http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}, url: url}
}

// post sends one batch until it is answered 202.
func (c *client) post(ctx context.Context, body []byte) error {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/cloudevents-batch+json")
		req.Header.Set("Authorization", "Bearer "+writeKey)
		resp, err := c.http.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusAccepted:
				return nil
			case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			default:
				return fmt.Errorf("ingest answered %d: %s", resp.StatusCode, msg)
			}
		}
		if ctx.Err() != nil || attempt == 20 {
			return fmt.Errorf("ingest: gave up after %d attempts: %v", attempt+1, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// get asks a stats function and returns the body and the time it took.
func get(ctx context.Context, url, query string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/?"+query, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+readKey)
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		return nil, took, fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, body)
	}
	return body, took, err
}

// topQuery is the stats-top query over w's days.
func (w *workload) topQuery() string {
	from, to := w.days()
	return "from=" + from.Format(time.DateOnly) + "&to=" + to.Format(time.DateOnly) + "&limit=1000"
}

// exact reports whether stats-top's answer for w's types equals want
// (earlier runs' types are left out).
func (w *workload) exact(body []byte, want []topEvent) bool {
	var got struct {
		Events []topEvent `json:"events"`
	}
	if json.Unmarshal(body, &got) != nil {
		return false
	}
	mine := slices.DeleteFunc(got.Events, func(e topEvent) bool { return !strings.HasPrefix(e.Type, "type_"+w.prefix+"_") })
	return slices.Equal(mine, want)
}
