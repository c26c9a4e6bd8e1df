package consume

import (
	"context"
	"errors"
	"time"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/store"
)

// rollupPoll is how often the materializer loop looks at the feed when no
// batch of this process woke it: other replicas store events too.
const rollupPoll = 250 * time.Millisecond

// gaugeEvery is how often the lag, dead-letter and backlog gauges are read.
const gaugeEvery = 5 * time.Second

// upkeepEvery is how often the tables are checked for a vacuum or analyse
// that autovacuum does not do (store.Upkeep): a few catalog reads when
// none is due. Autovacuum's own default is once a minute; checking more
// often gives a new database its first statistics sooner.
const upkeepEvery = 15 * time.Second

// wakeRollups tells the materializer loop that events were stored.
func (c *Consumer) wakeRollups() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Materialize moves the whole feed into the rollups, chunk by chunk, and
// returns the events it moved. Stats never need it (they read the feed as
// the tail of the rollups); it keeps that tail short.
func (c *Consumer) Materialize(ctx context.Context) (int, error) {
	if err := c.migrate(ctx); err != nil {
		return 0, err
	}
	n, err := c.rollups.Drain(ctx, func(s rollup.StepDone) {
		c.m.rollupStep.Observe(s.Took.Seconds())
		c.m.materialized.Add(float64(s.Events))
		for _, p := range rollup.Phases() {
			c.m.rollupPhase.WithLabelValues(p.String()).Add(s.Times[p].Seconds())
		}
	})
	if err != nil {
		c.m.failures.WithLabelValues("rollup").Inc()
	}
	return n, err
}

// runRollups keeps the feed short for the process's life: it materializes
// whenever a batch of this process stored events, or every rollupPoll
// (other replicas store events too). Failures are logged and retried with
// backoff.
func (c *Consumer) runRollups(ctx context.Context) error {
	backoff := minBackoff
	for ctx.Err() == nil {
		if _, err := c.Materialize(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("rollup materializer", "error", err, "retry_in", backoff.String())
			sleep(ctx, backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		select {
		case <-ctx.Done():
		case <-c.wake:
		case <-time.After(rollupPoll):
		}
	}
	return nil
}

// runGauges refreshes what an operator watches: the consumer's lag and
// acks pending, the dead letters and the rollup backlog. A failed read
// leaves a gauge as it was; readiness tells the outage.
func (c *Consumer) runGauges(ctx context.Context) error {
	t := time.NewTicker(gaugeEvery)
	defer t.Stop()
	for {
		c.readGauges(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Consumer) readGauges(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, gaugeEvery)
	defer cancel()
	if b, err := rollup.FeedBacklog(ctx, c.pool); err == nil {
		c.m.rollupBacklog.Set(float64(b.Events))
		lag := 0.0
		if !b.Oldest.IsZero() {
			lag = max(time.Since(b.Oldest).Seconds(), 0)
		}
		c.m.rollupLag.Set(lag)
	}
	c.mu.Lock()
	cons := c.cons
	c.mu.Unlock()
	if cons != nil {
		if info, err := cons.Info(ctx); err == nil {
			c.m.pending.Set(float64(info.NumPending))
			c.m.ackPending.Set(float64(info.NumAckPending))
		}
	}
	if n, err := c.bus.DeadLetterCount(ctx); err == nil {
		c.m.deadLetters.Set(float64(n))
	} else if !errors.Is(err, bus.ErrUnavailable) {
		c.log.Debug("dead-letter count", "error", err)
	}
}

// runUpkeep keeps eventfn's tables vacuumed and analysed where the
// server's autovacuum does not (store.Upkeep). Failures are logged and
// retried at the next round: upkeep only ever makes things faster.
func (c *Consumer) runUpkeep(ctx context.Context) error {
	t := time.NewTicker(upkeepEvery)
	defer t.Stop()
	told := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if c.migrate(ctx) != nil {
			continue // not ready: readiness tells
		}
		start := time.Now()
		res, err := store.Upkeep(ctx, c.pool)
		if err != nil {
			if ctx.Err() == nil {
				c.m.failures.WithLabelValues("upkeep").Inc()
				c.log.Warn("table upkeep", "error", err)
			}
			continue
		}
		if res.AutovacuumOff && !told {
			c.log.Info("PostgreSQL's autovacuum is off: consume-batch vacuums and analyses eventfn's tables itself")
			told = true
		}
		c.m.upkeep.WithLabelValues("vacuum").Add(float64(len(res.Vacuumed)))
		c.m.upkeep.WithLabelValues("analyze").Add(float64(len(res.Analyzed)))
		if len(res.Vacuumed)+len(res.Analyzed) > 0 {
			c.log.Debug("table upkeep", "vacuumed", res.Vacuumed, "analyzed", res.Analyzed, "took", time.Since(start).String())
		}
	}
}

// background runs what consume-batch does besides answering requests: the
// materializer, the gauges and table upkeep always, the drain loop with
// CONSUME_CONTINUOUS. The first to fail stops the others.
func (c *Consumer) background(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	loops := []func(context.Context) error{c.runRollups, c.runGauges, c.runUpkeep}
	if c.cfg.Continuous {
		loops = append(loops, c.Run)
	}
	errc := make(chan error, len(loops))
	for _, run := range loops {
		go func() { errc <- run(ctx) }()
	}
	var first error
	for range loops {
		if err := <-errc; err != nil && first == nil && !errors.Is(err, context.Canceled) {
			first = err
		}
		cancel()
	}
	return first
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
