package drill

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Fault names, as Options.Faults takes them.
const (
	FaultNATSKill            = "nats-kill"
	FaultNATSLeaderKill      = "nats-leader-kill"
	FaultNATSPartition       = "nats-follower-partition"
	FaultRedisRestart        = "redis-restart"
	FaultPostgresRestart     = "postgres-restart"
	FaultPostgresConnections = "postgres-connections"
	FaultIngestKill          = "ingest-kill"
	FaultConsumeKill         = "consume-kill"
	FaultConsumeStop         = "consume-stop"
)

// DefaultFaults is every fault of a variant, in the order injected: on
// one NATS server the server is killed; on a cluster the stream's leader
// is killed and a follower partitioned away instead.
func DefaultFaults(cluster bool) []string {
	nats := []string{FaultNATSKill}
	if cluster {
		nats = []string{FaultNATSLeaderKill, FaultNATSPartition}
	}
	return append(nats, FaultRedisRestart, FaultPostgresRestart, FaultPostgresConnections,
		FaultIngestKill, FaultConsumeKill, FaultConsumeStop)
}

// checkFaults refuses a name that is no fault.
func checkFaults(names []string) error {
	all := append([]string{FaultNATSKill}, DefaultFaults(true)...)
	for _, f := range names {
		if !slices.Contains(all, f) {
			return fmt.Errorf("drill: unknown fault %q (faults: %s)", f, strings.Join(all, ", "))
		}
	}
	return nil
}

// inject runs one fault and its repair: it returns when the repair is
// done (the server restarted, the process continued, the partition
// healed), with a description of what it did for the report.
func (r *run) inject(ctx context.Context, name string) (string, error) {
	t := r.timing
	switch name {
	case FaultNATSKill:
		if len(r.nats.servers) != 1 {
			return "", fmt.Errorf("%s is the one-server fault; on a cluster use %s", name, FaultNATSLeaderKill)
		}
		s := r.nats.servers[0]
		if err := s.proc.Kill(); err != nil {
			return "", err
		}
		sleep(ctx, t.down)
		return fmt.Sprintf("nats-server kill -9, down %s", t.down), s.start(ctx)
	case FaultNATSLeaderKill:
		leader, _, err := streamPeers(ctx, r.mon.js, r.names.stream)
		if err != nil {
			return "", err
		}
		s, err := r.nats.server(leader)
		if err != nil {
			return "", err
		}
		if err := s.proc.Kill(); err != nil {
			return "", err
		}
		sleep(ctx, t.down)
		return fmt.Sprintf("stream leader %s kill -9, down %s", leader, t.down), s.start(ctx)
	case FaultNATSPartition:
		_, followers, err := streamPeers(ctx, r.mon.js, r.names.stream)
		if err != nil {
			return "", err
		}
		if len(followers) == 0 {
			return "", fmt.Errorf("stream %s has no followers", r.names.stream)
		}
		for i, s := range r.nats.servers {
			if s.name == followers[0] {
				r.nats.partition(i)
				sleep(ctx, t.partition)
				r.nats.heal(i)
				return fmt.Sprintf("follower %s's routes cut for %s", s.name, t.partition), nil
			}
		}
		return "", fmt.Errorf("follower %s is not a drill server", followers[0])
	case FaultRedisRestart:
		if err := r.redis.proc.Kill(); err != nil {
			return "", err
		}
		sleep(ctx, t.restartAfter)
		return "redis-server kill -9, keys lost, restarted after " + t.restartAfter.String(), r.redis.Start(ctx)
	case FaultPostgresRestart:
		if err := r.pg.StopImmediate(ctx); err != nil {
			return "", err
		}
		sleep(ctx, t.down)
		return fmt.Sprintf("pg_ctl stop -m immediate, down %s", t.down), r.pg.Start(ctx)
	case FaultPostgresConnections:
		n, err := r.pg.exhaustConnections(ctx, t.hold)
		return fmt.Sprintf("%d connections held %s until refused", n, t.hold), err
	case FaultIngestKill:
		return r.killFunction(ctx, r.ingest[0])
	case FaultConsumeKill:
		return r.killFunction(ctx, r.consume[0])
	case FaultConsumeStop:
		f := r.consume[len(r.consume)-1]
		stop := r.opts.AckWait + t.stopPast
		if err := f.proc.Signal(syscall.SIGSTOP); err != nil {
			return "", err
		}
		sleep(ctx, stop)
		return fmt.Sprintf("%s SIGSTOP %s (ACK_WAIT %s), SIGCONT", f.name, stop, r.opts.AckWait), f.proc.Signal(syscall.SIGCONT)
	}
	return "", fmt.Errorf("unknown fault %q", name)
}

// killFunction kills a function replica with SIGKILL and starts it again
// after a moment, as its platform would.
func (r *run) killFunction(ctx context.Context, f *function) (string, error) {
	if err := f.proc.Kill(); err != nil {
		return "", err
	}
	sleep(ctx, r.timing.restartAfter)
	return fmt.Sprintf("%s kill -9, restarted after %s", f.name, r.timing.restartAfter), f.proc.Start()
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// awaitRecovery waits until the system is whole again after a fault
// injected at injected and repaired at repaired: every function process
// runs and answers /readyz 200, the client had a request answered 2xx that
// it sent after the repair, and the consumer's lag is back to what it was
// before the fault (or under two seconds of load), all of it still so a
// second later: a lag that dips once while it still grows is no recovery.
// It returns the time from the injection to the start of that second, or
// false when timeout passed first.
func (r *run) awaitRecovery(ctx context.Context, injected, repaired time.Time, lagBefore int64, timeout time.Duration) (time.Duration, bool) {
	threshold := max(lagBefore, 2*int64(r.opts.Rate))
	deadline := repaired.Add(timeout)
	var since time.Time // when the system was last seen becoming whole
	for ctx.Err() == nil && time.Now().Before(deadline) {
		whole := false
		if r.load.lastOK.Load() > repaired.UnixNano() && r.allReady(ctx) {
			s, ok := r.mon.latest()
			whole = ok && s.at.After(repaired) && s.lag <= threshold
			if whole && since.IsZero() {
				since = s.at
			}
		}
		switch {
		case !whole:
			since = time.Time{}
		case time.Since(since) >= time.Second:
			return since.Sub(injected), true
		}
		sleep(ctx, 100*time.Millisecond)
	}
	return time.Since(injected), false
}

// allReady reports whether every function process runs and is ready.
func (r *run) allReady(ctx context.Context) bool {
	for _, f := range r.functions() {
		if !f.proc.Running() || !f.ready(ctx) {
			return false
		}
	}
	return true
}
