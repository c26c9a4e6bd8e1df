package consume

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventfn/eventfn/shared/auth"
	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/store"
)

// batchTimeout bounds the storing and settling of one batch, so that a
// hung connection cannot hold its messages for ever; keepAlive holds them
// meanwhile.
const batchTimeout = 2 * time.Minute

// ackTimeout bounds the wait for the server's answer to a batch's last
// ack. A server that died with the ack never answers, and the batch's own
// deadline would stall the consumer for batchTimeout; the batch is
// committed, so an ack that fails only brings its messages back as
// duplicates.
const ackTimeout = 5 * time.Second

// batch is one fetched batch, decoded, on its way to the database.
type batch struct {
	msgs []jetstream.Msg
	recs []event.Record
	// at[j] is the message of recs[j]; a message's records are adjacent.
	at []int
	// poison[i] says why msgs[i] can never be stored, if it cannot be read.
	poison []error
	// release stops renewing the batch's ack wait.
	release func()
}

// decode reads a fetched batch and starts renewing its ack wait, which
// runs from delivery, while it waits for and goes through its transaction.
func (c *Consumer) decode(msgs []jetstream.Msg) *batch {
	b := &batch{
		msgs:    msgs,
		poison:  make([]error, len(msgs)),
		release: keepAlive(msgs, c.cfg.AckWait),
	}
	// Sized once: growing a batch's worth of records by appending cost
	// the consumer more than decoding them.
	decoded := make([][]event.Record, len(msgs))
	n := 0
	for i, m := range msgs {
		recs, err := decodeMsg(m)
		if err != nil {
			b.poison[i] = err
			continue
		}
		decoded[i] = recs
		n += len(recs)
	}
	b.recs, b.at = make([]event.Record, 0, n), make([]int, 0, n)
	for i, recs := range decoded {
		b.recs = append(b.recs, recs...)
		for range recs {
			b.at = append(b.at, i)
		}
	}
	return b
}

// abandon gives a batch back untried, for immediate redelivery (to this
// replica or another), after an earlier batch failed.
func (c *Consumer) abandon(b *batch) {
	b.release()
	for _, m := range b.msgs {
		_ = m.Nak()
	}
	c.m.messages.WithLabelValues("retried").Add(float64(len(b.msgs)))
}

// process writes one batch and settles every message of it:
//   - every event stored (new or duplicate): acknowledged, only after the
//     commit;
//   - some events can never be stored (refused by the schema): the others
//     are stored now; the message is retried until it was delivered
//     MAX_DELIVER times, then each such event is moved to the dead-letter
//     stream on its own and the message acknowledged;
//   - the message cannot be read at all: retried the same way, then moved
//     to the dead-letter stream whole and terminated;
//   - events not stored for a passing reason (database down): negatively
//     acknowledged for redelivery after CONSUME_RETRY_DELAY, whatever the
//     delivery count, and the error is returned.
//
// Redelivery stores nothing twice: the events stored before are found by
// identity and counted as duplicates.
func (c *Consumer) process(ctx context.Context, b *batch) (Result, error) {
	start := time.Now()
	defer func() { c.m.batch.Observe(time.Since(start).Seconds()) }()
	// A batch once fetched is finished even when the caller goes away, so
	// what commits is acknowledged rather than left to the ack wait.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()

	w := c.write(ctx, b.recs)
	b.release()
	res := Result{Inserted: w.inserted, Duplicates: w.duplicates}
	if c.afterCommit != nil && w.inserted+w.duplicates > 0 {
		c.afterCommit()
	}
	if w.inserted > 0 && c.nudge != nil {
		c.nudge()
	}
	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	if w.err != nil {
		c.m.failures.WithLabelValues("store").Inc()
		keep(fmt.Errorf("%w: %w", errUnavailable, w.err))
	}
	// What each message's events came to.
	waiting := make([]bool, len(b.msgs))
	bad := make([][]int, len(b.msgs))
	for j, i := range b.at {
		switch {
		case w.stored[j]:
		case w.bad[j] != nil:
			bad[i] = append(bad[i], j)
		default:
			waiting[i] = true
		}
	}
	stored := make([]jetstream.Msg, 0, len(b.msgs))
	retried := 0
	for i, m := range b.msgs {
		switch {
		case waiting[i]:
			retried++
			c.retry(m)
		case b.poison[i] != nil:
			dead, err := c.poisoned(ctx, m, b.poison[i])
			if dead {
				res.DeadLettered++
			} else {
				retried++
			}
			if err != nil {
				keep(err)
			}
		case len(bad[i]) > 0:
			dead, err := c.refusedEvents(ctx, m, b.recs, bad[i], w.bad)
			switch {
			case err != nil:
				keep(err)
				fallthrough
			case !dead:
				retried++
			default:
				res.DeadLettered += len(bad[i])
				stored = append(stored, m)
			}
		default:
			stored = append(stored, m)
		}
	}
	if err := c.ack(ctx, stored); err != nil {
		c.m.failures.WithLabelValues("ack").Inc()
		keep(err)
	}
	res.Consumed = res.Inserted + res.Duplicates + res.DeadLettered
	c.m.messages.WithLabelValues("inserted").Add(float64(res.Inserted))
	c.m.messages.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	c.m.messages.WithLabelValues("dead_lettered").Add(float64(res.DeadLettered))
	c.m.messages.WithLabelValues("retried").Add(float64(retried))
	return res, firstErr
}

// ack acknowledges msgs, all committed, the last one synchronously: the
// server applies a consumer's acknowledgements in order, so its answer
// means every ack, nak and terminate sent before it was applied, and the
// pending count read next is exact. Without messages to ack it flushes.
func (c *Consumer) ack(ctx context.Context, msgs []jetstream.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if len(msgs) == 0 {
		if err := c.bus.Conn().FlushWithContext(ctx); err != nil {
			return fmt.Errorf("%w: flush: %v", bus.ErrUnavailable, err)
		}
		return nil
	}
	last := len(msgs) - 1
	for _, m := range msgs[:last] {
		if err := m.Ack(); err != nil {
			return fmt.Errorf("%w: ack: %v", bus.ErrUnavailable, err)
		}
	}
	if err := msgs[last].DoubleAck(ctx); err != nil {
		return fmt.Errorf("%w: ack: %v", bus.ErrUnavailable, err)
	}
	return nil
}

// keepAlive tells the server, every third of the ack wait, that msgs are
// still being worked on, so that a slow transaction does not get its
// messages delivered to another replica meanwhile. stop waits until it
// has stopped.
func keepAlive(msgs []jetstream.Msg, ackWait time.Duration) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(ackWait / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				for _, m := range msgs {
					// A lost progress note only means an early redelivery.
					_ = m.InProgress()
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// poisoned settles a message that cannot be read: a retry while it has
// deliveries left, else the dead-letter stream, whole. It reports whether
// the message was moved.
func (c *Consumer) poisoned(ctx context.Context, m jetstream.Msg, cause error) (bool, error) {
	meta, err := m.Metadata()
	if err != nil || meta.NumDelivered < uint64(c.cfg.MaxDeliver) {
		c.log.Debug("message cannot be read; will retry", "subject", m.Subject(), "error", cause)
		c.retry(m)
		return false, nil
	}
	if err := c.bus.DeadLetterMsg(ctx, m, cause); err != nil {
		c.m.failures.WithLabelValues("dead_letter").Inc()
		c.retry(m)
		return false, err
	}
	c.log.Warn("message dead-lettered", "subject", m.Subject(), "stream_seq", meta.Sequence.Stream,
		"deliveries", meta.NumDelivered, "error", cause)
	// Terminated, not redelivered; should the terminate be lost, the
	// redelivered copy is dead-lettered again under the same message id,
	// which the dead-letter stream drops.
	if err := m.Term(); err != nil {
		return true, fmt.Errorf("%w: terminate dead-lettered message: %v", bus.ErrUnavailable, err)
	}
	return true, nil
}

// refusedEvents settles a message some of whose events (recs[j] for j in
// bad, each refused for good by why[j]) can never be stored, the others
// being stored: a retry while the message has deliveries left, else each
// refused event goes to the dead-letter stream on its own. It reports
// whether they were moved; the caller then acknowledges the message.
func (c *Consumer) refusedEvents(ctx context.Context, m jetstream.Msg, recs []event.Record, bad []int, why []error) (bool, error) {
	meta, err := m.Metadata()
	if err != nil || meta.NumDelivered < uint64(c.cfg.MaxDeliver) {
		c.log.Debug("events cannot be stored; will retry", "subject", m.Subject(), "events", len(bad), "error", why[bad[0]])
		c.retry(m)
		return false, nil
	}
	for _, j := range bad {
		if err := c.bus.DeadLetterRecord(ctx, m, &recs[j], why[j]); err != nil {
			c.m.failures.WithLabelValues("dead_letter").Inc()
			c.retry(m)
			return false, err
		}
		c.log.Warn("event dead-lettered", "subject", m.Subject(), "stream_seq", meta.Sequence.Stream,
			"source", recs[j].Source, "id", recs[j].ID, "deliveries", meta.NumDelivered, "error", why[j])
	}
	return true, nil
}

// retry asks for the message's redelivery after CONSUME_RETRY_DELAY. A lost
// NAK only means the redelivery waits for the ack wait instead.
func (c *Consumer) retry(m jetstream.Msg) {
	if c.cfg.RetryDelay > 0 {
		_ = m.NakWithDelay(c.cfg.RetryDelay)
		return
	}
	_ = m.Nak()
}

// written is what write did with each event.
type written struct {
	// stored[j]: recs[j] is committed (inserted now, or its identity was).
	stored []bool
	// bad[j]: recs[j] can never be stored, and why.
	bad                  []error
	inserted, duplicates int
	// err is a passing failure; events neither stored nor bad wait for it.
	err error
}

// write stores recs in one transaction. When the database refuses the
// batch for good (a data or integrity error), it splits the batch in halves
// until the events at fault are alone, so that the others are stored now.
func (c *Consumer) write(ctx context.Context, recs []event.Record) written {
	w := written{stored: make([]bool, len(recs)), bad: make([]error, len(recs))}
	// Events the rollups could never take are refused before they are
	// stored: stored, they would be counted by no stats answer.
	good, at := recs, []int(nil)
	for j := range recs {
		if err := rollupable(&recs[j]); err != nil {
			w.bad[j] = err
		}
	}
	if slices.ContainsFunc(w.bad, func(err error) bool { return err != nil }) {
		good = nil
		for j := range recs {
			if w.bad[j] == nil {
				good, at = append(good, recs[j]), append(at, j)
			}
		}
	}
	if len(good) == 0 {
		return w
	}
	commit := time.Now()
	sub := written{stored: make([]bool, len(good)), bad: make([]error, len(good))}
	sub.err = c.writeSplit(ctx, good, 0, &sub)
	c.m.commit.Observe(time.Since(commit).Seconds())
	c.m.batchEvents.Observe(float64(len(good)))
	if at == nil {
		return sub
	}
	for k, j := range at {
		w.stored[j], w.bad[j] = sub.stored[k], sub.bad[k]
	}
	w.inserted, w.duplicates, w.err = sub.inserted, sub.duplicates, sub.err
	return w
}

// rollupable refuses what a message may hold that ingest and push refuse
// now and the rollups cannot take: a subject over event.MaxSubjectBytes,
// which the users' btree cannot key (older ingests accepted one).
func rollupable(r *event.Record) error {
	if n := len(r.Subject); n > event.MaxSubjectBytes {
		return event.Errorf(event.CodeInvalid, "subject is %d bytes, over the limit of %d", n, event.MaxSubjectBytes)
	}
	return nil
}

func (c *Consumer) writeSplit(ctx context.Context, recs []event.Record, off int, w *written) error {
	r, err := c.store.InsertRecords(ctx, recs)
	if err == nil {
		for j := range recs {
			w.stored[off+j] = true
		}
		w.inserted += r.Inserted
		w.duplicates += r.Duplicates
		return nil
	}
	if !store.IsPermanent(err) {
		return err
	}
	if len(recs) == 1 {
		w.bad[off] = refused(err)
		return nil
	}
	mid := len(recs) / 2
	if err := c.writeSplit(ctx, recs[:mid], off, w); err != nil {
		return err
	}
	return c.writeSplit(ctx, recs[mid:], off+mid, w)
}

// refused turns the database's permanent refusal of one event into an
// error whose message can be shown (push answers, dead-letter headers).
func refused(err error) error {
	msg := err.Error()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		msg = fmt.Sprintf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	}
	return event.Wrap(event.CodeInvalid, err, "the database refused the event: "+msg)
}

// decodeMsg reads the events of a message of either format (bus.DecodeMsg);
// its error means the message can never be stored (poison). The events are
// not validated again: ingest did, and what the schema refuses is refused
// by the database, which write isolates.
func decodeMsg(m jetstream.Msg) ([]event.Record, error) {
	var stamped time.Time
	if meta, err := m.Metadata(); err == nil {
		stamped = meta.Timestamp
	}
	recs, err := bus.DecodeMsg(m.Headers(), m.Data(), stamped)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, event.Errorf(event.CodeInvalid, "message holds no events")
	}
	if p := recs[0].Project; !auth.ValidProject(p) {
		return nil, event.Errorf(event.CodeInvalid, "project %q is not a valid project name", p)
	}
	return recs, nil
}

// storable checks a pushed event as ingest checks a sent one, sizes
// aside (but for the subject's, which storing needs): a project name, the
// CloudEvents rules, JSON data, no NUL characters, a time not too far
// ahead.
func storable(ev *event.Event, skew time.Duration) error {
	if !auth.ValidProject(ev.Project) {
		return event.Errorf(event.CodeInvalid, "project %q is not a valid project name", ev.Project)
	}
	lim := event.Limits{MaxEventBytes: math.MaxInt, MaxPropertyKeyBytes: math.MaxInt, MaxFutureSkew: skew}
	return event.Validate(&ev.CE, 0, lim, ev.ReceivedAt)
}
