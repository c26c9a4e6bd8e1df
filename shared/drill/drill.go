package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configure one drill run.
type Options struct {
	// Cluster runs three nats-servers with streams of three replicas
	// instead of one server.
	Cluster bool
	// Faults are injected in this order (DefaultFaults when empty).
	Faults []string
	// Events is the least number of events sent: the load goes on after
	// the last fault until it is reached.
	Events int
	// Rate is the events per second the client offers.
	Rate int
	// Batch is the events of one request in the two batch modes.
	Batch int
	// Short shortens every wait (outages, holds, warm-up) for make test.
	Short bool
	// Replica builds a streaming replica of PostgreSQL (pg_basebackup -R)
	// and runs a second set of stats functions reading it
	// (STATS_DATABASE_URL), to show their answers converge.
	Replica bool
	// AckWait is consume-batch's ACK_WAIT; the stopped consumer stays
	// stopped longer than this.
	AckWait time.Duration
	// Root is the module root, where go build runs.
	Root string
	// BinDir holds binaries built by Build; empty builds them into the
	// run's directory.
	BinDir string
	// TempDir is where the run's directory is made (os.TempDir when empty).
	TempDir string
	// KeepFailed keeps the run's directory (data and logs) when the drill
	// fails, Keep always; it is removed otherwise.
	KeepFailed, Keep bool
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// timing is how long each step of a run lasts.
type timing struct {
	warmup, settle        time.Duration // before the first fault; after each recovery
	down, restartAfter    time.Duration // a server's outage; a killed process's
	stopPast              time.Duration // how far past ACK_WAIT a consumer stays stopped
	hold, partition       time.Duration // connections held; a follower cut off
	last                  time.Duration // the least load after the last fault
	recovery, drain, tail time.Duration // bounds: recovery, drain, requests in flight at the end
}

func (o Options) timing() timing {
	if o.Short {
		return timing{warmup: 2 * time.Second, settle: time.Second, down: time.Second, restartAfter: 500 * time.Millisecond,
			stopPast: 2 * time.Second, hold: 2 * time.Second, partition: 5 * time.Second, last: 2 * time.Second,
			recovery: 90 * time.Second, drain: 2 * time.Minute, tail: 2 * time.Minute}
	}
	// A new database stores events several times slower until autovacuum
	// first analyzes its tables (autovacuum_naptime, 1 min): the first
	// fault comes after that, so that recoveries are measured from a
	// steady state.
	return timing{warmup: 90 * time.Second, settle: 5 * time.Second, down: 3 * time.Second, restartAfter: time.Second,
		stopPast: 3 * time.Second, hold: 5 * time.Second, partition: 10 * time.Second, last: 10 * time.Second,
		recovery: 3 * time.Minute, drain: 5 * time.Minute, tail: 3 * time.Minute}
}

// names are the run's own names of shared resources (contract §8).
type names struct {
	project, stream, subject, consumer, dlqStream, dlqSubject, prefix string
	writeKey, readKey, adminKey                                       string
}

func newNames() names {
	var b [8]byte
	_, _ = rand.Read(b[:])
	s := hex.EncodeToString(b[:4])
	k := hex.EncodeToString(b[4:])
	return names{
		project: "drill", stream: "DRILL_" + strings.ToUpper(s), subject: "drill_" + s + ".events",
		consumer: "consume_" + s, dlqStream: "DRILL_DLQ_" + strings.ToUpper(s), dlqSubject: "drill_" + s + ".dlq",
		prefix: "drill_" + s + ":", writeKey: "wk_drill_" + k, readKey: "rk_drill_" + k, adminKey: "ak_drill_" + k,
	}
}

// run is one drill in progress.
type run struct {
	opts   Options
	timing timing
	w      *workspace
	log    *slog.Logger
	bin    string
	names  names

	pg, replica *Postgres
	redis       *Redis
	nats        *NATS
	ingest      []*function
	consume     []*function
	stats       map[string]*function // by binary: stats-dau, …
	replicaSet  map[string]*function // the same, reading the replica

	set   *eventSet
	phase atomic.Int32
	// phaseNames are the phases' names by index, for goroutines that must
	// not read report.Phases while drive appends to it.
	phaseNames [maxPhases]string
	load       *load
	mon        *monitor
	start      time.Time
	report     *Report
	failMu     sync.Mutex // guards report.Failures: the supervisor fails too
}

// Run runs one drill and returns its report; the error is for a drill
// that could not be set up or run at all. Every process it started is
// gone when it returns.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	if o.Events <= 0 || o.Rate <= 0 || o.Batch <= 0 || o.AckWait < time.Second {
		return nil, errors.New("drill: Events, Rate and Batch must be positive and AckWait at least 1s")
	}
	if len(o.Faults) == 0 {
		o.Faults = DefaultFaults(o.Cluster)
	}
	if err := checkFaults(o.Faults); err != nil {
		return nil, err
	}
	if len(o.Faults)+2 > maxPhases {
		return nil, fmt.Errorf("drill: at most %d faults in one run", maxPhases-2)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	began := time.Now()
	w, err := newWorkspace(o.TempDir, o.Log)
	if err != nil {
		return nil, err
	}
	r := &run{opts: o, timing: o.timing(), w: w, log: o.Log, names: newNames(),
		stats: map[string]*function{}, replicaSet: map[string]*function{}}
	r.report = &Report{Variant: r.variant()}
	defer func() {
		r.teardown()
		failed := err != nil || !rep.OK()
		if (failed && o.KeepFailed) || o.Keep {
			r.log.Info("kept the run's directory", "dir", w.dir)
			if rep != nil {
				rep.Notes = append(rep.Notes, "data and logs kept in "+w.dir)
			}
		} else {
			_ = os.RemoveAll(w.dir)
		}
		if rep != nil {
			rep.Wall = time.Since(began)
		}
	}()
	if err := r.setUp(ctx); err != nil {
		return nil, fmt.Errorf("drill: set-up: %w\n%s", err, r.logTails())
	}
	bgCtx, stopBg := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Add(3)
	go func() { defer bg.Done(); r.mon.run(bgCtx) }()
	go func() { defer bg.Done(); r.supervise(bgCtx) }()
	go func() { defer bg.Done(); r.progress(bgCtx) }()
	r.drive(ctx)
	if ctx.Err() != nil {
		r.fail("interrupted: %v", ctx.Err())
	} else {
		r.verify(ctx)
	}
	stopBg()
	bg.Wait()
	if !r.report.OK() {
		r.report.Notes = append(r.report.Notes, "log tails:\n"+r.logTails())
	}
	return r.report, nil
}

func (r *run) variant() string {
	nats := "one NATS server"
	if r.opts.Cluster {
		nats = "three-node NATS cluster, streams of 3 replicas"
	}
	s := fmt.Sprintf("%s, %d ingest + %d consume-batch processes", nats, 2, 2)
	if r.opts.Replica {
		s += ", stats also on a streaming replica"
	}
	return s
}

// functions lists every function process.
func (r *run) functions() []*function {
	fs := slices.Concat(r.ingest, r.consume)
	for _, m := range []map[string]*function{r.stats, r.replicaSet} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fs = append(fs, m[k])
		}
	}
	return fs
}

// drive runs the load and the faults, then stops the load.
func (r *run) drive(ctx context.Context) {
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	r.start = time.Now()
	r.newPhase("(warm-up)", r.start)
	go func() {
		defer close(loadDone)
		r.load.run(loadCtx, stop)
	}()
	watch := newStatsWatch(r)
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		watch.run(watchCtx)
	}()
	defer func() {
		stopWatch()
		<-watchDone
		watch.note()
	}()
	r.log.Info("load started", "rate", r.opts.Rate)
	sleep(ctx, r.timing.warmup)
	for _, f := range r.opts.Faults {
		if ctx.Err() != nil || r.loadFailed() {
			break
		}
		injected := time.Now()
		lagBefore := r.mon.highest(injected.Add(-5*time.Second), injected)
		p := r.newPhase(f, injected)
		r.log.Info("injecting", "fault", f)
		detail, err := r.inject(ctx, f)
		p.Detail = detail
		if err != nil {
			r.fail("fault %s: %v", f, err)
			p.Detail += " (failed: " + err.Error() + ")"
		}
		p.Recovery, p.Recovered = r.awaitRecovery(ctx, injected, time.Now(), lagBefore, r.timing.recovery)
		if !p.Recovered {
			r.fail("fault %s: not recovered within %s of the repair", f, r.timing.recovery)
		}
		r.log.Info("recovered", "fault", f, "after", p.Recovery.Round(time.Millisecond), "ok", p.Recovered)
		sleep(ctx, r.timing.settle)
	}
	after := time.Now()
	r.newPhase("(after the faults)", after)
	if r.replica != nil {
		// Replay stops here, so that the replica is behind the primary by
		// this phase's events when the stats on it are first asked, as a
		// lagging replica would be.
		if err := r.replica.exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
			r.fail("pause replay on the replica: %v", err)
		}
	}
	for (r.load.sent() < r.opts.Events || time.Since(after) < r.timing.last) && ctx.Err() == nil && !r.loadFailed() {
		sleep(ctx, 100*time.Millisecond)
	}
	close(stop)
	select {
	case <-loadDone:
	case <-time.After(r.timing.tail):
		cancelLoad()
		<-loadDone
	}
	r.log.Info("load stopped", "events", r.load.sent())
}

func (r *run) loadFailed() bool {
	_, err := r.load.snapshot()
	return err != nil
}

// newPhase starts a row of the table; events sent from now count in it.
func (r *run) newPhase(name string, at time.Time) *PhaseReport {
	r.report.Phases = append(r.report.Phases, PhaseReport{Fault: name, At: at.Sub(r.start)})
	r.phaseNames[len(r.report.Phases)-1] = name
	r.phase.Store(int32(len(r.report.Phases) - 1))
	return &r.report.Phases[len(r.report.Phases)-1]
}

// supervise restarts a function process that exited on its own, as its
// platform would, and counts it as a failure: a crash under a fault is a
// defect even when nothing is lost.
func (r *run) supervise(ctx context.Context) {
	handled := map[*Process]int{}
	for ctx.Err() == nil {
		for _, f := range r.functions() {
			if n := f.proc.UnexpectedExits(); n > handled[f.proc] && !f.proc.Running() {
				handled[f.proc] = n
				r.fail("%s exited on its own (%s); restarted", f.name, lastLine(tail(f.proc.log, 600)))
				sleep(ctx, time.Second)
				_ = f.proc.Start()
			}
		}
		sleep(ctx, 500*time.Millisecond)
	}
}

// progress logs the events sent and the consumer's lag every 5 s.
func (r *run) progress(ctx context.Context) {
	for ctx.Err() == nil {
		sleep(ctx, 5*time.Second)
		if s, ok := r.mon.latest(); ok && r.load != nil {
			r.log.Info("progress", "sent", r.load.sent(), "in_flight", r.load.inflight.Load(), "lag", s.lag,
				"lag_age", time.Since(s.at).Round(time.Millisecond))
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func (r *run) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.log.Warn("drill failure", "what", msg)
	r.failMu.Lock()
	r.report.Failures = append(r.report.Failures, msg)
	r.failMu.Unlock()
}

// teardown stops every process: functions first (SIGTERM, then SIGKILL),
// then the services.
func (r *run) teardown() {
	if r.mon != nil {
		r.mon.close()
	}
	for _, f := range r.functions() {
		_ = f.proc.Terminate(syscall.SIGTERM, 5*time.Second)
	}
	r.nats.Close()
	r.redis.Close()
	r.replica.Close()
	r.pg.Close()
}

// logTails returns the end of every process's log.
func (r *run) logTails() string {
	paths, _ := filepath.Glob(filepath.Join(r.w.dir, "*.log"))
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "==> %s <==\n%s\n", filepath.Base(p), tail(p, 1500))
	}
	return b.String()
}
