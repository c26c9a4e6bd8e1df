package drill

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/testenv"
)

// TestShortDrill is make test's drill: every fault once on one NATS server
// (with the stats also read from a streaming replica), and the stream
// leader killed and a follower partitioned away on a three-node cluster;
// both at a few hundred events a second, at the same time. Nothing
// answered 2xx may be lost or doubled, and the stats must equal the
// client's own count, and every stats answer during the load must lie
// between the answer before it and what the events sent could make.
func TestShortDrill(t *testing.T) {
	bin := prerequisites(t)
	root, err := ModuleRoot(".")
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		cluster bool
		faults  []string
	}{
		{"one-server", false, DefaultFaults(false)},
		{"cluster", true, []string{FaultNATSLeaderKill, FaultNATSPartition}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			rep, err := Run(ctx, Options{
				Cluster: tc.cluster, Faults: tc.faults, Events: 2000, Rate: 300, Batch: 50, Short: true,
				Replica: !tc.cluster, AckWait: 3 * time.Second, Root: root, BinDir: bin,
				Log: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
			})
			require.NoError(t, err)
			var b strings.Builder
			rep.Write(&b)
			t.Log(b.String())
			require.True(t, rep.OK(), "the drill failed: %v", rep.Failures)
			require.Len(t, rep.Phases, len(tc.faults)+2, "warm-up, one row per fault, after the faults")
			for i, f := range tc.faults {
				p := rep.Phases[i+1]
				assert.Equal(t, f, p.Fault)
				assert.True(t, p.Recovered, f)
				assert.Positive(t, p.Sent, "%s: events were sent while it lasted", f)
			}
			assert.Positive(t, rep.Total.Acked)
			assert.Positive(t, rep.Total.StatsAnswers, "the stats were asked and answered during the load")
			assert.Equal(t, rep.Total.Acked, rep.Total.Stored)
			assert.Zero(t, rep.Total.Lost)
			assert.Zero(t, rep.Total.Doubled)
		})
	}
}

// prerequisites skips the drill where PostgreSQL's server programs or
// redis-server are missing, unless EVENTFN_TEST_DRILL=require (make test
// sets it, and installs them), and builds the binaries once.
func prerequisites(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("the fault drill takes a minute or two")
	}
	_, errPG := pgBin()
	_, errRedis := exec.LookPath("redis-server")
	if err := errors.Join(errPG, errRedis); err != nil {
		if os.Getenv("EVENTFN_TEST_DRILL") == "require" {
			t.Fatalf("EVENTFN_TEST_DRILL=require: %v", err)
		}
		t.Skipf("the fault drill needs PostgreSQL's server programs and redis-server: %v", err)
	}
	built.once.Do(func() {
		root, err := ModuleRoot(".")
		if err != nil {
			built.err = err
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "eventfn-drill-bin-"); built.err != nil {
			return
		}
		built.err = Build(context.Background(), root, built.dir)
	})
	require.NoError(t, built.err)
	return built.dir
}

// built holds the binaries every drill of the package runs; TestMain
// removes them.
var built struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	// The tests see the defaults whatever the caller's shell exports (the
	// drill gives its functions their settings itself).
	testenv.ClearEnv()
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// testWriter sends the drill's progress to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestTallyFindsLostAndDoubledEvents holds the accounting to a seeded
// outcome: an event answered 2xx and not stored is lost, one stored twice
// is doubled, one never answered but stored still counts in the stats.
func TestTallyFindsLostAndDoubledEvents(t *testing.T) {
	rep := &Report{Phases: []PhaseReport{{Fault: "(warm-up)"}, {Fault: FaultNATSKill}}}
	answered := func(lo, hi, phase int, acked bool) *request {
		r := &request{lo: lo, hi: hi, phase: phase}
		r.acked.Store(acked)
		return r
	}
	requests := []*request{answered(0, 3, 0, true), answered(3, 5, 1, true), answered(5, 7, 1, false)}
	stored := []int{1, 1, 1, 0, 2, 1, 0}
	counted := tally(rep, requests, stored)
	assert.Equal(t, []bool{true, true, true, true, true, true, false}, counted)
	assert.Equal(t, PhaseReport{Fault: "(warm-up)", Sent: 3, Acked: 3, Stored: 3}, rep.Phases[0])
	assert.Equal(t, PhaseReport{Fault: FaultNATSKill, Sent: 4, Acked: 2, Stored: 2, Lost: 1, Doubled: 1}, rep.Phases[1])
	assert.Equal(t, PhaseReport{Fault: "total", Sent: 7, Acked: 5, Stored: 5, Lost: 1, Doubled: 1}, rep.Total)
}

// TestExpectedStatsHoldTogether checks the independent count against
// itself: top's counts add up to the events counted, each day's active
// users are at most the users, a cohort's retained[0] is its size and the
// sizes add up to the users seen.
func TestExpectedStatsHoldTogether(t *testing.T) {
	set := &eventSet{seed: 7, first: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), days: 5, users: 40}
	n := 3000
	qs := expectedStats(set, n, func(i int) bool { return i%10 != 0 })
	require.Len(t, qs, 4)
	top := qs[2].want.(*topAnswer)
	total := 0
	for _, e := range top.Events {
		total += e.Count
		assert.LessOrEqual(t, e.Users, set.users)
	}
	assert.Equal(t, n-n/10, total)
	for _, q := range qs[:2] {
		dau := q.want.(*dauAnswer)
		require.Len(t, dau.Series, set.days+2)
		for _, p := range dau.Series {
			assert.LessOrEqual(t, p.ActiveUsers, set.users)
		}
		assert.Zero(t, dau.Series[len(dau.Series)-1].ActiveUsers, "the day after the events")
	}
	assert.Zero(t, qs[0].want.(*dauAnswer).Series[0].ActiveUsers, "the UTC day before the events")
	ret := qs[3].want.(*retentionAnswer)
	sizes := 0
	for _, c := range ret.Cohorts {
		sizes += c.Size
		require.NotEmpty(t, c.Retained)
		assert.Equal(t, c.Size, c.Retained[0])
	}
	assert.Equal(t, set.users, sizes, "every user has a cohort (3000 events over 40 users)")
	same, diff := sameAnswer(top, qs[2].want)
	assert.True(t, same, diff)
	changed := *top
	changed.Events = append([]topEvent{}, top.Events...)
	changed.Events[0].Count++
	same, diff = sameAnswer(&changed, top)
	assert.False(t, same)
	assert.Contains(t, diff, "differs")
}

// TestStatsWatchJudgesAnswers holds the watch's rules to made-up answers:
// the count of the events sent passes after a smaller one; a count above
// it, below the answer before, a type never sent, a missing or extra day
// and a cohort whose period 0 is not its size each fail.
func TestStatsWatchJudgesAnswers(t *testing.T) {
	set := &eventSet{seed: 7, first: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), days: 5, users: 40}
	few, all := newStatsCount(set), newStatsCount(set)
	for i := range 500 {
		if i < 20 {
			few.add(i)
		}
		all.add(i)
	}
	earlier, bound := few.queries(), all.queries()
	clone := func(q statsQuery, a any) any {
		raw, err := json.Marshal(a)
		require.NoError(t, err)
		c, err := decodeAnswer(q, raw)
		require.NoError(t, err)
		return c
	}
	for i, q := range bound {
		assert.Empty(t, judge(counters(q.want), counters(earlier[i].want), counters(q.want), q.want), q.label())
		assert.Empty(t, judge(counters(earlier[i].want), nil, counters(q.want), earlier[i].want), q.label())
		problems := judge(counters(earlier[i].want), counters(q.want), counters(q.want), earlier[i].want)
		require.NotEmpty(t, problems, q.label())
		assert.Contains(t, problems[0], "below the")
	}
	wantProblem := func(q statsQuery, got any, substr string) {
		t.Helper()
		problems := judge(counters(got), nil, counters(q.want), got)
		require.NotEmpty(t, problems)
		assert.Contains(t, strings.Join(problems, "\n"), substr)
	}

	dau := clone(bound[0], bound[0].want).(*dauAnswer)
	dau.Series[2].ActiveUsers++
	wantProblem(bound[0], dau, "above the")
	dau = clone(bound[0], bound[0].want).(*dauAnswer)
	dau.Series[len(dau.Series)-1].Start = "2027-01-01"
	wantProblem(bound[0], dau, "outside the range")
	dau.Series = dau.Series[:len(dau.Series)-1]
	wantProblem(bound[0], dau, "buckets, the range has")

	top := clone(bound[2], bound[2].want).(*topAnswer)
	top.Events = append(top.Events, topEvent{Type: "never_sent", Count: 1, Users: 1})
	wantProblem(bound[2], top, "count of never_sent = 1, above the 0")
	problems := judge(counters(&topAnswer{Events: top.Events[1:]}), counters(bound[2].want), counters(bound[2].want), top)
	assert.Contains(t, strings.Join(problems, "\n"), "missing, ")

	ret := clone(bound[3], bound[3].want).(*retentionAnswer)
	ret.Cohorts[1].Retained[0]--
	wantProblem(bound[3], ret, "retained")
	ret = clone(bound[3], bound[3].want).(*retentionAnswer)
	ret.Cohorts[1].Size++
	ret.Cohorts[1].Retained[0]++
	wantProblem(bound[3], ret, "users of all cohorts")
}

// TestStatsWatchAsksAndJudges runs the watch's asking against a stats
// function that answers from a script: an answer within bounds counts, a
// 503 with a JSON error and a refused connection count as refusals, and a
// 503 that is not JSON, a 400, and an answer below the one before each
// fail the run with the query and the phase named.
func TestStatsWatchAsksAndJudges(t *testing.T) {
	set := &eventSet{seed: 7, first: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), days: 5, users: 40}
	full, few := newStatsCount(set), newStatsCount(set)
	for i := range 300 {
		full.add(i)
		if i < 30 {
			few.add(i)
		}
	}
	fullTop, fewTop := full.queries()[2].want, few.queries()[2].want
	type reply struct {
		status int
		body   any // marshalled unless a string
	}
	script := []reply{
		{200, fewTop},
		{503, map[string]string{"error": "database unavailable"}},
		{200, fullTop},
		{503, "<html>bad gateway</html>"},
		{400, map[string]string{"error": "from: required"}},
		{200, fewTop}, // below the answer before
	}
	var mu sync.Mutex
	next := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		assert.Equal(t, "Bearer rk_test", req.Header.Get("Authorization"))
		mu.Lock()
		rp := script[next]
		next++
		mu.Unlock()
		body, ok := rp.body.(string)
		if !ok {
			raw, err := json.Marshal(rp.body)
			assert.NoError(t, err)
			body = string(raw)
		}
		w.WriteHeader(rp.status)
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	port, err := strconv.Atoi(srv.URL[strings.LastIndexByte(srv.URL, ':')+1:])
	require.NoError(t, err)

	r := &run{names: names{readKey: "rk_test"}, set: set, report: &Report{}, log: slog.New(slog.DiscardHandler),
		stats: map[string]*function{"stats-dau": {port: port}, "stats-top": {port: port}, "stats-retention": {port: port}},
		load:  &load{next: 300}}
	r.newPhase("(warm-up)", time.Now())
	w := newStatsWatch(r)
	topAsk := 2 // the primary's stats-top: no replica here
	require.Equal(t, "stats-top", w.asks[topAsk].q.fn)
	for range script {
		w.ask(context.Background(), topAsk)
	}
	srv.Close()
	w.ask(context.Background(), topAsk) // nothing listens now
	assert.Equal(t, 3, w.answered[0], "every 200, the one out of bounds too")
	assert.Equal(t, 2, w.refused[0])
	require.GreaterOrEqual(t, len(r.report.Failures), 3, "%v", r.report.Failures)
	assert.Contains(t, r.report.Failures[0], "answered 503 during (warm-up)")
	assert.Contains(t, r.report.Failures[1], "answered 400")
	for _, f := range r.report.Failures[2:] {
		assert.Contains(t, f, "stats-top?")
		assert.Contains(t, f, "below the")
	}
}
