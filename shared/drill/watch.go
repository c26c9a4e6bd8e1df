package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"
)

// statsWatch asks the stats functions (on the primary, and on the replica
// when there is one) all through the load and the faults, one query after
// another, and holds every answer to what is known at that moment. The
// end-of-run check only sees the answers once the system is whole; these
// see them while events are half way through ingest, the stream, the
// insert and the rollups, and while a dependency is down:
//   - no count above what the events sent so far can make: a higher one
//     counts some event twice;
//   - no count below the same query's earlier answer: stored events only
//     accumulate (nothing is archived or purged in a drill), so a lower one
//     missed a committed event (contract §6: every answer counts every
//     committed event), e.g. one that fell between the rollups and the
//     tail they are merged with;
//   - a refusal is a 5xx with a JSON error, or a failed connection: the
//     query is valid, so a 4xx is a defect.
type statsWatch struct {
	r       *run
	sent    *statsCount // the events sent so far: events [0, counted)
	counted int
	asks    []watchAsk
	last    []map[string]int // each ask's latest answer, as counters
	// answered and refused count answers by the phase they came in.
	answered, refused [maxPhases]int
	failures          int
}

// maxWatchFailures bounds the failures one run reports from the watch: the
// first ones say what went wrong.
const maxWatchFailures = 5

// watchAsk is one query the watch asks of one set of stats functions.
type watchAsk struct {
	qi    int // the query's index in statsCount.queries
	q     statsQuery
	f     *function
	where string // "" for the primary, "replica " for the replica
}

func newStatsWatch(r *run) *statsWatch {
	w := &statsWatch{r: r, sent: newStatsCount(r.set)}
	for qi, q := range w.sent.queries() {
		w.asks = append(w.asks, watchAsk{qi: qi, q: q, f: r.stats[q.fn]})
		if f := r.replicaSet[q.fn]; f != nil {
			w.asks = append(w.asks, watchAsk{qi: qi, q: q, f: f, where: "replica "})
		}
	}
	w.last = make([]map[string]int, len(w.asks))
	return w
}

// run asks until ctx ends, a query every 200 ms, each in turn.
func (w *statsWatch) run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		w.ask(ctx, i%len(w.asks))
		sleep(ctx, 200*time.Millisecond)
	}
}

func (w *statsWatch) ask(ctx context.Context, ai int) {
	a := w.asks[ai]
	q := a.q
	status, raw, err := getStats(ctx, a.f.URL(), w.r.names.readKey, q, 10*time.Second)
	if ctx.Err() != nil {
		return
	}
	// Every event stored by the time the answer was read had been sent by
	// then, so the events sent now bound the answer.
	sent := w.r.load.sent()
	phase := w.r.phase.Load()
	if err != nil {
		w.refused[phase]++
		return
	}
	if status != http.StatusOK {
		var body struct {
			Error string `json:"error"`
		}
		if status < 500 || json.Unmarshal(raw, &body) != nil || body.Error == "" {
			w.fail("%s%s answered %d during %s: %.200s", a.where, q.label(), status, w.phaseName(phase), raw)
			return
		}
		w.refused[phase]++
		return
	}
	got, err := decodeAnswer(q, raw)
	if err != nil {
		w.fail("%s%s during %s: %v", a.where, q.label(), w.phaseName(phase), err)
		return
	}
	w.answered[phase]++
	for ; w.counted < sent; w.counted++ {
		w.sent.add(w.counted)
	}
	bound := w.sent.queries()[a.qi].want
	now := counters(got)
	for _, problem := range judge(now, w.last[ai], counters(bound), got) {
		w.fail("%s%s during %s, %d events sent: %s", a.where, q.label(), w.phaseName(phase), sent, problem)
	}
	w.last[ai] = now
}

// phaseName reads the name newPhase wrote before it published the phase's
// index: report.Phases itself may be growing meanwhile.
func (w *statsWatch) phaseName(p int32) string { return w.r.phaseNames[p] }

func (w *statsWatch) fail(format string, args ...any) {
	w.failures++
	if w.failures <= maxWatchFailures {
		w.r.fail("stats watch: "+format, args...)
	}
}

// judge holds one answer, as counters, to the answer before it (nil for
// the first) and to the bound the events sent make, and checks the
// answer's own arithmetic; it returns what is wrong.
func judge(now, before, bound map[string]int, got any) []string {
	var problems []string
	for _, k := range slices.Sorted(maps.Keys(now)) {
		if b, ok := bound[k]; !ok && isSeries(got) {
			problems = append(problems, fmt.Sprintf("%s: a bucket outside the range", k))
		} else if now[k] > b {
			problems = append(problems, fmt.Sprintf("%s = %d, above the %d the events sent so far can make", k, now[k], b))
		}
		if now[k] < before[k] {
			problems = append(problems, fmt.Sprintf("%s = %d, below the %d of the answer before", k, now[k], before[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if _, ok := now[k]; !ok && before[k] > 0 {
			problems = append(problems, fmt.Sprintf("%s: missing, %d in the answer before", k, before[k]))
		}
	}
	if isSeries(got) && len(now) != len(bound) {
		problems = append(problems, fmt.Sprintf("%d buckets, the range has %d", len(now), len(bound)))
	}
	if r, ok := got.(*retentionAnswer); ok {
		for _, c := range r.Cohorts {
			for k, n := range c.Retained {
				if (k == 0 && n != c.Size) || n > c.Size {
					problems = append(problems, fmt.Sprintf("cohort %s of size %d retained %d in period %d", c.Start, c.Size, n, k))
				}
			}
		}
	}
	return problems
}

func isSeries(a any) bool {
	_, ok := a.(*dauAnswer)
	return ok
}

// counters flattens an answer into the counts that can only grow as events
// are stored, keyed by what they count. A retention cohort can shrink (a
// late event moves a user to an earlier one); the users of all cohorts
// together cannot.
func counters(a any) map[string]int {
	m := map[string]int{}
	switch a := a.(type) {
	case *dauAnswer:
		for _, s := range a.Series {
			m["active users on "+s.Start] = s.ActiveUsers
		}
	case *topAnswer:
		for _, e := range a.Events {
			m["count of "+e.Type] = e.Count
			m["users of "+e.Type] = e.Users
		}
	case *retentionAnswer:
		n := 0
		for _, c := range a.Cohorts {
			n += c.Size
		}
		m["users of all cohorts"] = n
	}
	return m
}

// note sums the watch up in the report.
func (w *statsWatch) note() {
	answered, refused := 0, 0
	for i := range w.r.report.Phases {
		w.r.report.Phases[i].StatsAnswers = w.answered[i]
		w.r.report.Phases[i].StatsRefused = w.refused[i]
		answered += w.answered[i]
		refused += w.refused[i]
	}
	of := "the primary"
	if len(w.r.replicaSet) > 0 {
		of = "the primary and the replica"
	}
	if w.failures == 0 {
		w.r.note("stats asked of %s through the load and the faults: %d answers, none above what the events sent by then could make, none below an earlier answer; %d refused (5xx with a JSON error, or no connection)", of, answered, refused)
	}
}
