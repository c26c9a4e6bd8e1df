package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// verify drains the consumer, then checks every event the client was
// answered 2xx for is stored exactly once and the stats functions answer
// what the client's own record says; with a replica, that the stats read
// from it converge to the primary's.
func (r *run) verify(ctx context.Context) {
	requests, err := r.load.snapshot()
	if err != nil {
		r.fail("client: %v", err)
	}
	unanswered := 0
	for _, q := range requests {
		if !q.acked.Load() {
			unanswered++
		}
	}
	if unanswered > 0 {
		r.fail("%d requests were never answered 2xx (still retrying %s after the load stopped)", unanswered, r.timing.tail)
	}
	began := time.Now()
	passes, err := r.drain(ctx)
	if err != nil {
		r.fail("drain: %v", err)
		return
	}
	r.note("drain: consume-batch answered pending 0 after %d POST / in %s", passes, time.Since(began).Round(time.Millisecond))

	stored, foreign, err := r.storedCounts(ctx, requests)
	if err != nil {
		r.fail("count stored events: %v", err)
		return
	}
	for i := range r.report.Phases {
		r.report.Phases[i].MaxLag = r.mon.maxLag[i].Load()
		r.report.Phases[i].Retries = r.load.retriesIn(i)
	}
	counted := tally(r.report, requests, stored)
	total := r.report.Total
	if total.Lost > 0 {
		r.fail("%d events answered 2xx are not stored", total.Lost)
	}
	if total.Doubled > 0 {
		r.fail("%d events are stored more than once", total.Doubled)
	}
	if foreign > 0 {
		r.fail("%d stored events were never sent by the client", foreign)
	}
	if dl, err := r.deadLetters(ctx); err != nil {
		r.fail("dead-letter stream: %v", err)
	} else {
		r.note("dead letters: %d", dl)
		if dl > 0 {
			r.fail("%d events were dead-lettered", dl)
		}
	}
	queries := expectedStats(r.set, len(counted), func(i int) bool { return counted[i] })
	primary := r.checkStats(ctx, queries)
	if r.replica != nil && primary != nil {
		r.checkReplica(ctx, queries, primary)
	}
}

// tally fills the report's rows and total from the requests and how many
// times each event is stored, and returns which events the stats must
// count: those answered 2xx, and any other found stored.
func tally(rep *Report, requests []*request, stored []int) []bool {
	counted := make([]bool, len(stored))
	for _, q := range requests {
		p := &rep.Phases[q.phase]
		acked := q.acked.Load()
		for i := q.lo; i < q.hi; i++ {
			c := stored[i]
			p.Sent++
			if acked {
				p.Acked++
			}
			if c > 0 {
				p.Stored++
			}
			if acked && c == 0 {
				p.Lost++
			}
			if c > 1 {
				p.Doubled++
			}
			counted[i] = acked || c > 0
		}
	}
	rep.Total = PhaseReport{Fault: "total"}
	for _, p := range rep.Phases {
		rep.Total.add(p)
	}
	return counted
}

func (r *run) note(format string, args ...any) {
	r.report.Notes = append(r.report.Notes, fmt.Sprintf(format, args...))
}

// drainAnswer is consume-batch's answer to a drain.
type drainAnswer struct {
	Consumed int    `json:"consumed"`
	Pending  uint64 `json:"pending"`
}

// drain POSTs to consume-batch's replicas in turn until one answers
// pending 0.
func (r *run) drain(ctx context.Context) (int, error) {
	deadline := time.Now().Add(r.timing.drain)
	var last string
	for pass := 1; time.Now().Before(deadline) && ctx.Err() == nil; pass++ {
		f := r.consume[pass%len(r.consume)]
		a, err := r.drainOnce(ctx, f)
		if err == nil && a.Pending == 0 {
			return pass, nil
		}
		if err != nil {
			last = err.Error()
			sleep(ctx, 500*time.Millisecond)
		} else {
			// What is left is held by the continuous consumers.
			last = fmt.Sprintf("pending %d", a.Pending)
			sleep(ctx, 100*time.Millisecond)
		}
	}
	return 0, fmt.Errorf("no drain answered pending 0 within %s (last: %s)", r.timing.drain, last)
}

func (r *run) drainOnce(ctx context.Context, f *function) (drainAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL(), bytes.NewReader(nil))
	if err != nil {
		return drainAnswer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+r.names.adminKey)
	resp, err := probeClient.Do(req)
	if err != nil {
		return drainAnswer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return drainAnswer{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return drainAnswer{}, fmt.Errorf("%s answered %d: %s", f.name, resp.StatusCode, raw)
	}
	var a drainAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("%s: %w", f.name, err)
	}
	return a, nil
}

// storedCounts reads, from the drill's own PostgreSQL, how many times each
// event the client sent is stored (by identity: project, source, id), and
// how many stored events the client never sent.
func (r *run) storedCounts(ctx context.Context, requests []*request) ([]int, int, error) {
	modeOf := make([]mode, r.load.sent())
	for _, q := range requests {
		for i := q.lo; i < q.hi; i++ {
			modeOf[i] = q.mode
		}
	}
	conn, err := pgx.Connect(ctx, r.pg.SuperURL(appDatabase))
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT source, id, count(*) FROM events WHERE project = $1 GROUP BY source, id`, r.names.project)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	counts := make([]int, len(modeOf))
	foreign := 0
	var source, id string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&source, &id, &n}, func() error {
		i, err := strconv.Atoi(strings.TrimPrefix(id, "e"))
		if err != nil || !strings.HasPrefix(id, "e") || i < 0 || i >= len(counts) || modeOf[i].source() != source {
			foreign += n
			return nil
		}
		counts[i] += n
		return nil
	})
	return counts, foreign, err
}

// deadLetters returns the dead-letter stream's message count.
func (r *run) deadLetters(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := r.mon.js.Stream(ctx, r.names.dlqStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// checkStats asks the stats functions on the primary each query and
// compares. Right after pending 0 every answer must count every stored
// event (contract §6); an answer that is only right later is a failure
// too, reported with how late it was. It returns the answers.
func (r *run) checkStats(ctx context.Context, queries []statsQuery) []any {
	answers := make([]any, len(queries))
	ok := true
	for i, q := range queries {
		got, err := r.askRetrying(ctx, r.stats[q.fn], q)
		if err != nil {
			r.fail("%s: %v", q.label(), err)
			return nil
		}
		answers[i] = got
		if same, diff := sameAnswer(got, q.want); !same {
			ok = false
			late := r.convergence(ctx, r.stats[q.fn], q, q.want, 30*time.Second)
			r.fail("%s right after pending 0: %s%s", q.label(), diff, late)
		}
	}
	if ok {
		r.note("stats: %d answers (DAU by UTC day and by New York day, top events, daily retention) equal the client's own count", len(queries))
	}
	return answers
}

// convergence polls q until it answers want, and says how long that took.
func (r *run) convergence(ctx context.Context, f *function, q statsQuery, want any, timeout time.Duration) string {
	began := time.Now()
	for time.Since(began) < timeout && ctx.Err() == nil {
		if got, err := askStats(ctx, f.URL(), r.names.readKey, q); err == nil {
			if same, _ := sameAnswer(got, want); same {
				return fmt.Sprintf(" (right %s later)", time.Since(began).Round(time.Millisecond))
			}
		}
		sleep(ctx, 200*time.Millisecond)
	}
	return fmt.Sprintf(" (still wrong %s later)", timeout)
}

// askRetrying asks until an answer comes, for a minute: a stats function
// may answer 503 while its pool reconnects after the faults.
func (r *run) askRetrying(ctx context.Context, f *function, q statsQuery) (any, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := askStats(ctx, f.URL(), r.names.readKey, q)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return got, err
		}
		sleep(ctx, 500*time.Millisecond)
	}
}

// checkReplica compares the stats read from the paused replica with the
// primary's, resumes replay, and measures how long until they are equal.
func (r *run) checkReplica(ctx context.Context, queries []statsQuery, primary []any) {
	behind := 0
	for i, q := range queries {
		got, err := r.askRetrying(ctx, r.replicaSet[q.fn], q)
		if err != nil {
			r.fail("replica %s: %v", q.label(), err)
			return
		}
		if same, _ := sameAnswer(got, primary[i]); !same {
			behind++
		}
		if q.fn == "stats-top" {
			r.note("replica, replay paused since the last fault: stats-top counts %d events, the primary %d", topTotal(got), topTotal(primary[i]))
		}
	}
	lag, err := r.pg.replicationLag(ctx, r.replica)
	if err != nil {
		r.fail("replica lag: %v", err)
		return
	}
	if err := r.replica.exec(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		r.fail("resume replay on the replica: %v", err)
		return
	}
	began := time.Now()
	for i, q := range queries {
		if late := r.convergence(ctx, r.replicaSet[q.fn], q, primary[i], time.Minute); strings.HasPrefix(late, " (still") {
			r.fail("replica %s never equals the primary's answer%s", q.label(), late)
			return
		}
	}
	r.note("replica: %d of %d answers behind while %.1f MB of WAL were not replayed; all equal to the primary's %s after replay resumed",
		behind, len(queries), float64(lag)/1e6, time.Since(began).Round(time.Millisecond))
}

func topTotal(a any) int {
	n := 0
	if t, ok := a.(*topAnswer); ok {
		for _, e := range t.Events {
			n += e.Count
		}
	}
	return n
}

// exec runs one statement as superuser on the cluster's postgres database.
func (pg *Postgres) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, pg.SuperURL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
