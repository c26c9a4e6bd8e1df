package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/benchdata"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// functions are the processes an end-to-end run starts.
var functions = []string{"ingest", "consume-batch", "stats-top", "stats-dau", "stats-retention"}

// BenchmarkE2E measures HTTP ingest → committed → exact in stats-top, with
// every function a process of its own as deployed (one replica each, the
// defaults, CONSUME_CONTINUOUS as under make run, no rate limits), beside a
// raw COPY of the same rows into the events table in the same run, and
// one into events with the GIN index on props that it had when the
// throughput issue set its targets (migration 0021 dropped it).
//
// EVENTFN_BENCH_EVENTS events (default 200,000) go in as batch requests of
// 500 from 8 clients at once. It reports the accept rate (events/s up to
// the last 202), the e2e rate (up to the first stats-top answer equal to
// one computed here), the stats lag (last 202 to that answer), the rollup
// catch-up (last 202 to an empty feed) and the peak memory of each process.
//
// EVENTFN_BENCH_DATABASE_URL runs it on a database that holds data already
// (the cost as the data grows).
//
// With EVENTFN_BENCH_SUSTAIN (a duration such as 5m) each workload then
// runs sustained: events sent at EVENTFN_BENCH_RATE events/s (default: the
// burst's e2e rate) for that long, printing each 10 s the consumer lag,
// the rollup backlog and the stats latencies, and at the end whether lag
// and backlog stopped growing after the first minute.
func BenchmarkE2E(b *testing.B) {
	n := benchdata.EnvInt("EVENTFN_BENCH_EVENTS", 200000) / perRequest * perRequest
	bin := buildFunctions(b, functions...)
	for _, name := range []string{"steady", "scattered"} {
		b.Run("workload="+name, func(b *testing.B) {
			copyRate := rawCopy(b, newWorkload(name), n, false)
			ginRate := rawCopy(b, newWorkload(name), n, true)
			b.ReportMetric(copyRate, "copy_events/s")
			var e2eRate float64
			for range b.N {
				e2eRate = burst(b, bin, newWorkload(name), n, copyRate, ginRate)
			}
			if d := os.Getenv("EVENTFN_BENCH_SUSTAIN"); d != "" {
				dur, err := time.ParseDuration(d)
				if err != nil {
					b.Fatalf("EVENTFN_BENCH_SUSTAIN=%q: %v", d, err)
				}
				rate := float64(benchdata.EnvInt("EVENTFN_BENCH_RATE", int(e2eRate)))
				sustain(b, bin, newWorkload(name), rate, dur)
			}
		})
	}
}

// burst sends n events of w as fast as the clients go and waits for the
// exact answer; it returns the e2e rate.
func burst(b *testing.B, bin string, w *workload, n int, copyRate, ginRate float64) float64 {
	b.StopTimer()
	s := startStack(b, bin, functions)
	bodies := make([][]byte, 0, n/perRequest)
	for from := 0; from < n; from += perRequest {
		bodies = append(bodies, w.body(nil, from))
	}
	want := w.expectTop(n)
	ctx := context.Background()
	c := newClient(s.urls["ingest"])
	next := make(chan []byte, len(bodies))
	for _, body := range bodies {
		next <- body
	}
	close(next)

	b.StartTimer()
	start := time.Now()
	var mu sync.Mutex
	var lastAccepted time.Time
	var sendErr error
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for body := range next {
				err := c.post(ctx, body)
				mu.Lock()
				lastAccepted = time.Now()
				if err != nil && sendErr == nil {
					sendErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if sendErr != nil {
		b.Fatal(sendErr)
	}
	var exactAt time.Time
	for deadline := time.Now().Add(10 * time.Minute); ; {
		body, _, err := get(ctx, s.urls["stats-top"], w.topQuery())
		if err != nil {
			b.Fatal(err)
		}
		if w.exact(body, want) {
			exactAt = time.Now()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("stats-top not exact after 10 minutes: %s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	var caughtUp time.Time
	for deadline := time.Now().Add(20 * time.Minute); ; {
		if s.metric(ctx, "consume-batch", "eventfn_rollup_backlog_events") == 0 && s.metric(ctx, "consume-batch", "eventfn_rollup_materialized_events_total") >= float64(n) {
			caughtUp = time.Now()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the rollups did not catch up within 20 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	accept := float64(n) / lastAccepted.Sub(start).Seconds()
	e2e := float64(n) / exactAt.Sub(start).Seconds()
	b.ReportMetric(accept, "accepted_events/s")
	b.ReportMetric(e2e, "events/s")
	b.ReportMetric(100*e2e/copyRate, "%copy")
	b.ReportMetric(exactAt.Sub(lastAccepted).Seconds()*1000, "stats_lag_ms")
	b.ReportMetric(caughtUp.Sub(lastAccepted).Seconds()*1000, "rollup_catchup_ms")
	fmt.Printf("E2E workload=%s events=%d accept=%.0f/s e2e=%.0f/s (%.1f%% of raw COPY %.0f/s; %.1f%% of %.0f/s with the GIN index) stats_lag=%s rollups_caught_up=%s after the last 202\n",
		w.name, n, accept, e2e, 100*e2e/copyRate, copyRate, 100*e2e/ginRate, ginRate, exactAt.Sub(lastAccepted).Round(time.Millisecond), caughtUp.Sub(lastAccepted).Round(time.Millisecond))
	fmt.Printf("E2E workload=%s peak RSS: consume-batch %s (CONSUME_BATCH_SIZE default, ROLLUP_CHUNK_EVENTS default), ingest %s, stats-top %s\n",
		w.name, s.peakRSS("consume-batch"), s.peakRSS("ingest"), s.peakRSS("stats-top"))
	s.stop()
	return e2e
}

// rawCopy returns the baseline: the rows of n events of w COPYed into the
// events table of a database of its own, 5000 a transaction; with gin,
// into events with the GIN index on props it had until migration 0021.
func rawCopy(b *testing.B, w *workload, n int, gin bool) float64 {
	ctx := context.Background()
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: testenv.Database(b), DatabaseMaxConns: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	if gin {
		if _, err := pool.Exec(ctx, benchdata.PropsIndex("events_props")); err != nil {
			b.Fatal(err)
		}
	}
	from, to := w.days()
	parts := store.New(pool)
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		if err := parts.EnsurePartition(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	rows := make([][]any, n)
	for i := range rows {
		user, typ, at := w.event(i)
		r := event.Record{Project: project, Source: "/bench", ID: w.prefix + "-" + strconv.Itoa(i), Type: w.typeName(typ),
			Subject: "user-" + strconv.Itoa(user), Time: at, ReceivedAt: at}
		rows[i] = []any{r.Project, r.Source, r.ID, r.Type, r.Subject, r.Time, r.ReceivedAt, "application/json", nil,
			fmt.Sprintf(`{"path":"/products/%d","referrer":"https://example.com/","plan":%q,"country":"c%d","n":%d}`, i%1000, plans[user%3], user%20, i%10),
			nil, "{}"}
	}
	cols := []string{"project", "source", "id", "type", "subject", "time", "received_at", "datacontenttype", "dataschema", "props", "data", "extensions"}
	start := time.Now()
	for off := 0; off < n; off += 5000 {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, cols, pgx.CopyFromRows(rows[off:min(off+5000, n)]))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// Stats targets at 10M events, from the throughput issue.
const (
	unfilteredTarget = 20 * time.Millisecond
	filteredTarget   = 250 * time.Millisecond
	retentionTarget  = 50 * time.Millisecond
)

// sustain sends w at rate events/s for dur and prints, every 10 s, the
// consumer lag and acks pending, the rollup backlog and the stats
// latencies of queries whose range holds today, then whether lag and
// backlog stopped growing after the first minute, the exact answer's
// delay after the last event, and how the machine's CPU was shared out
// while sending.
func sustain(b *testing.B, bin string, w *workload, rate float64, dur time.Duration) {
	s := startStack(b, bin, functions)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newClient(s.urls["ingest"])
	fmt.Printf("SUSTAIN workload=%s rate=%.0f events/s for %s\n", w.name, rate, dur)

	var mu sync.Mutex
	sent := 0
	var sendErr error
	interval := time.Duration(float64(time.Second) * perRequest / rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	end := time.Now().Add(dur)
	work := make(chan int, 64)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var buf []byte
			for from := range work {
				buf = w.body(buf, from)
				if err := c.post(ctx, buf); err != nil {
					mu.Lock()
					sendErr = err
					mu.Unlock()
				}
				mu.Lock()
				sent += perRequest
				mu.Unlock()
			}
		})
	}
	lat := newLatencies()
	go queryLoop(ctx, s, w, lat)

	type sample struct {
		at               time.Duration
		pending, backlog float64
	}
	var samples []sample
	start := time.Now()
	cpuBefore := cpuSeconds()
	phasesBefore := s.phaseSeconds(ctx)
	nextPrint := start.Add(10 * time.Second)
	queued := 0
	for time.Now().Before(end) {
		<-tick.C
		select {
		case work <- queued:
			queued += perRequest
		default:
			// The clients cannot keep up: ingest is slower than the rate.
		}
		if now := time.Now(); now.After(nextPrint) {
			nextPrint = nextPrint.Add(10 * time.Second)
			p := s.metric(ctx, "consume-batch", "eventfn_consume_pending_messages")
			ap := s.metric(ctx, "consume-batch", "eventfn_consume_ack_pending_messages")
			bl := s.metric(ctx, "consume-batch", "eventfn_rollup_backlog_events")
			samples = append(samples, sample{now.Sub(start), p, bl})
			mu.Lock()
			done := sent
			mu.Unlock()
			fmt.Printf("SUSTAIN %4.0fs sent=%d (%.0f/s) consumer_pending_msgs=%.0f acks_pending=%.0f rollup_backlog=%.0f %s\n",
				now.Sub(start).Seconds(), done, float64(done)/now.Sub(start).Seconds(), p, ap, bl, lat.report(true))
		}
	}
	close(work)
	wg.Wait()
	lastAccepted := time.Now()
	cpuSending := cpuSplit(cpuBefore, cpuSeconds(), lastAccepted.Sub(start))
	phasesSending := phaseSplit(phasesBefore, s.phaseSeconds(ctx))
	mu.Lock()
	n := sent
	err := sendErr
	mu.Unlock()
	if err != nil {
		b.Fatal(err)
	}
	want := w.expectTop(queued)
	for deadline := time.Now().Add(20 * time.Minute); ; {
		body, _, err := get(ctx, s.urls["stats-top"], w.topQuery())
		if err != nil {
			b.Fatal(err)
		}
		if w.exact(body, want) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("stats-top not exact after 20 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("SUSTAIN workload=%s sent %d events in %s; stats-top exact %s after the last 202\n",
		w.name, n, dur, time.Since(lastAccepted).Round(time.Millisecond))
	fmt.Printf("SUSTAIN workload=%s stats over the whole run: %s\n", w.name, lat.report(false))
	fmt.Printf("SUSTAIN workload=%s CPU while sending, by command: %s\n", w.name, cpuSending)
	fmt.Printf("SUSTAIN workload=%s materializer while sending (eventfn_rollup_phase_seconds_total): %s\n", w.name, phasesSending)
	var late []sample
	for _, sm := range samples {
		if sm.at > time.Minute {
			late = append(late, sm)
		}
	}
	if len(late) >= 2 {
		pend, back := make([]float64, len(late)), make([]float64, len(late))
		for i, sm := range late {
			pend[i], back[i] = sm.pending, sm.backlog
		}
		fmt.Printf("SUSTAIN workload=%s after the first minute: consumer lag %s, rollup backlog %s\n",
			w.name, trend(pend, 20), trend(back, 20000))
	}
	fmt.Printf("SUSTAIN workload=%s peak RSS: consume-batch %s, ingest %s\n", w.name, s.peakRSS("consume-batch"), s.peakRSS("ingest"))
	s.stop()
}

// trend says whether the samples grow: their first and last thirds' means.
func trend(v []float64, floor float64) string {
	k := max(len(v)/3, 1)
	mean := func(x []float64) float64 {
		sum := 0.0
		for _, f := range x {
			sum += f
		}
		return sum / float64(len(x))
	}
	a, z := mean(v[:k]), mean(v[len(v)-k:])
	// Growing: the last third's mean a fifth above the first's, past noise
	// of floor (the metric's own unit).
	verdict := "not growing"
	if z > 1.2*a+floor {
		verdict = "GROWING"
	}
	return fmt.Sprintf("%s (mean of first third %.0f, last third %.0f, max %.0f)", verdict, a, z, slices.Max(v))
}

// latencies collects stats answer times by query kind.
type latencies struct {
	mu   sync.Mutex
	last map[string][]time.Duration
	all  map[string][]time.Duration
}

func newLatencies() *latencies {
	return &latencies{last: map[string][]time.Duration{}, all: map[string][]time.Duration{}}
}

func (l *latencies) add(kind string, d time.Duration) {
	l.mu.Lock()
	l.last[kind] = append(l.last[kind], d)
	l.all[kind] = append(l.all[kind], d)
	l.mu.Unlock()
}

// report gives p95 per kind against its target; since the previous report
// (and resetting) when interval, else over the whole run.
func (l *latencies) report(interval bool) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	src := l.all
	if interval {
		src = l.last
		l.last = map[string][]time.Duration{}
	}
	kinds := make([]string, 0, len(src))
	for k := range src {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	out := ""
	for _, k := range kinds {
		d := slices.Clone(src[k])
		slices.Sort(d)
		p95 := d[min(len(d)-1, len(d)*95/100)]
		target := map[bool]time.Duration{true: filteredTarget, false: unfilteredTarget}[k == "top_filtered" || k == "dau_filtered"]
		if k == "retention" {
			target = retentionTarget
		}
		mark := "ok"
		if p95 > target {
			mark = "OVER"
		}
		out += fmt.Sprintf(" %s_p95=%s(%s,n=%d)", k, p95.Round(100*time.Microsecond), mark, len(d))
	}
	return out
}

// queryLoop asks the stats functions, one query at a time, over ranges
// that hold today (and so the events not yet in the rollups): 30 days
// for dau and top, unfiltered and filtered, and 12 weeks of retention.
func queryLoop(ctx context.Context, s *stack, w *workload, lat *latencies) {
	today := w.start
	from30 := today.AddDate(0, 0, -29).Format(time.DateOnly)
	to := today.Format(time.DateOnly)
	monday := today.AddDate(0, 0, -(int(today.Weekday())+6)%7-7*11)
	queries := []struct{ kind, fn, q string }{
		{"top", "stats-top", "from=" + from30 + "&to=" + to},
		{"top_filtered", "stats-top", "from=" + from30 + "&to=" + to + "&prop.plan=pro"},
		{"dau", "stats-dau", "from=" + from30 + "&to=" + to},
		{"dau_filtered", "stats-dau", "from=" + from30 + "&to=" + to + "&prop.plan=pro"},
		{"retention", "stats-retention", "from=" + monday.Format(time.DateOnly) + "&to=" + to + "&interval=week&periods=12"},
	}
	for i := 0; ctx.Err() == nil; i++ {
		q := queries[i%len(queries)]
		_, took, err := get(ctx, s.urls[q.fn], q.q)
		if err == nil {
			lat.add(q.kind, took)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// phaseSeconds returns consume-batch's materialization time so far by
// phase (eventfn_rollup_phase_seconds_total).
func (s *stack) phaseSeconds(ctx context.Context) map[rollup.Phase]float64 {
	out := map[rollup.Phase]float64{}
	for _, p := range rollup.Phases() {
		out[p] = s.metric(ctx, "consume-batch", fmt.Sprintf("eventfn_rollup_phase_seconds_total{phase=%q}", p))
	}
	return out
}

// phaseSplit tells how the materializer spent the time between two
// readings of phaseSeconds: the share of each phase of applying a chunk
// (under the writer lock, one step at a time), then the time its steps
// spent claiming and preparing chunks and waiting for each other, which
// overlaps another step's applying.
func phaseSplit(before, after map[rollup.Phase]float64) string {
	overlapped := map[rollup.Phase]bool{rollup.PhaseClaim: true, rollup.PhasePrepare: true, rollup.PhaseWait: true}
	applying := 0.0
	for p, secs := range after {
		if !overlapped[p] {
			applying += secs - before[p]
		}
	}
	if applying <= 0 {
		return "no step"
	}
	var shares, others []string
	for _, p := range rollup.Phases() {
		d := after[p] - before[p]
		if overlapped[p] {
			others = append(others, fmt.Sprintf("%s %.1f s", p, d))
		} else if share := 100 * d / applying; share >= 1 {
			shares = append(shares, fmt.Sprintf("%s %.0f%%", p, share))
		}
	}
	return fmt.Sprintf("applying %.1f s: %s; beside it %s", applying, strings.Join(shares, ", "), strings.Join(others, ", "))
}
