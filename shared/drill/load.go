package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Reasons a request is sent again, as the contract tells clients to: a
// 503 (or another 5xx), a 429, or a connection that failed or was cut.
const (
	retry503 = iota
	retry5xx
	retry429
	retryConn
	retryReasons
)

var retryNames = [retryReasons]string{"503", "5xx", "429", "conn"}

// maxPhases bounds the phases (warm-up, one per fault, after) of a run.
const maxPhases = 32

// request is one ingest request of the load: events [lo, hi) in one mode.
type request struct {
	lo, hi int
	mode   mode
	phase  int // the phase it was first sent in
	acked  atomic.Bool
}

// load is a client that sends events to ingest at a steady rate from a
// fixed number of workers, and sends each request again, unchanged, on
// 503, 5xx, 429 or a failed connection until it is answered 2xx (contract
// §4), moving to the next ingest replica as a load balancer would. It
// records which requests were answered.
type load struct {
	set     *eventSet
	ingest  []string
	key     string
	rate    float64
	batch   int
	workers int
	phase   *atomic.Int32
	client  *http.Client

	mu       sync.Mutex
	next     int // next event index
	nreq     int
	requests []*request
	err      error // the first answer the contract does not allow

	retries [maxPhases][retryReasons]atomic.Int64
	// lastOK is when the latest attempt that was answered 2xx was sent.
	lastOK atomic.Int64
	// inflight counts requests sent and not yet answered 2xx.
	inflight atomic.Int64
}

func newLoad(set *eventSet, ingest []string, key string, rate float64, batch int, phase *atomic.Int32) *load {
	return &load{
		set: set, ingest: ingest, key: key, rate: rate, batch: batch, workers: 16, phase: phase,
		client: &http.Client{
			Timeout:   60 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second},
		},
	}
}

// run sends until stop is closed, then lets every request in flight finish
// (each until answered, or until ctx ends).
func (l *load) run(ctx context.Context, stop <-chan struct{}) {
	// The mean events per request over the mode cycle sets the pace.
	perReq := 0.0
	for _, m := range modeCycle {
		perReq += float64(l.size(m))
	}
	perReq /= float64(len(modeCycle))
	tick := time.NewTicker(time.Duration(float64(time.Second) * perReq / l.rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	for range l.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				select {
				case <-stop:
					return
				default:
				}
				r := l.nextRequest()
				if err := l.send(ctx, r); err != nil {
					l.fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func (l *load) size(m mode) int {
	if m == modeBatch || m == modeSimple {
		return l.batch
	}
	return 1
}

func (l *load) nextRequest() *request {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := modeCycle[l.nreq%len(modeCycle)]
	r := &request{lo: l.next, hi: l.next + l.size(m), mode: m, phase: int(l.phase.Load())}
	l.next, l.nreq = r.hi, l.nreq+1
	l.requests = append(l.requests, r)
	return r
}

func (l *load) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
}

// sent returns how many events were sent so far.
func (l *load) sent() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// snapshot returns the requests sent so far and the first contract
// violation seen; call it after run returned.
func (l *load) snapshot() ([]*request, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.requests, l.err
}

// ingestAnswer is ingest's response body.
type ingestAnswer struct {
	Accepted   int               `json:"accepted"`
	Duplicates int               `json:"duplicates"`
	Rejected   []json.RawMessage `json:"rejected"`
}

// send sends r until it is answered 2xx. It returns an error only for an
// answer the contract does not allow for valid events (a 4xx other than
// 429, a 207, counts that do not add up); ctx ending leaves r unanswered.
func (l *load) send(ctx context.Context, r *request) error {
	l.inflight.Add(1)
	defer l.inflight.Add(-1)
	body, header, err := l.set.encode(r.mode, r.lo, r.hi)
	if err != nil {
		return err
	}
	target := r.lo % len(l.ingest)
	for ctx.Err() == nil {
		start := time.Now()
		status, raw, retryAfter, err := l.post(ctx, l.ingest[target], body, header)
		if ctx.Err() != nil {
			return nil
		}
		var reason int
		switch {
		case err != nil:
			reason = retryConn
		case status == http.StatusAccepted:
			var a ingestAnswer
			if err := json.Unmarshal(raw, &a); err != nil {
				return fmt.Errorf("ingest answered 202 with %q: %w", raw, err)
			}
			if a.Accepted+a.Duplicates != r.hi-r.lo || len(a.Rejected) > 0 {
				return fmt.Errorf("ingest answered 202 for %d %s events with %s", r.hi-r.lo, modeNames[r.mode], raw)
			}
			r.acked.Store(true)
			for {
				last := l.lastOK.Load()
				if start.UnixNano() <= last || l.lastOK.CompareAndSwap(last, start.UnixNano()) {
					break
				}
			}
			return nil
		case status == http.StatusServiceUnavailable:
			reason = retry503
		case status == http.StatusTooManyRequests:
			reason = retry429
		case status >= 500:
			reason = retry5xx
		default:
			return fmt.Errorf("ingest answered %d for %d valid %s events: %s", status, r.hi-r.lo, modeNames[r.mode], raw)
		}
		l.retries[l.phase.Load()][reason].Add(1)
		target = (target + 1) % len(l.ingest)
		wait := 100 * time.Millisecond
		if retryAfter > 0 {
			wait = min(retryAfter, 2*time.Second)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return nil
}

func (l *load) post(ctx context.Context, url string, body []byte, header http.Header) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+l.key)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, 0, err
	}
	var retryAfter time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, raw, retryAfter, nil
}

// retriesIn returns phase p's retries by reason.
func (l *load) retriesIn(p int) [retryReasons]int64 {
	var out [retryReasons]int64
	for i := range out {
		out[i] = l.retries[p][i].Load()
	}
	return out
}
