package consume

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
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
	evs  []*event.Event
	// at[j] is the message of evs[j].
	at []int
	// poison[i] says why msgs[i] can never be stored, if it cannot.
	poison []error
	// release stops renewing the batch's ack wait.
	release func()
}

// decode reads a fetched batch and starts renewing its ack wait, which
// runs from delivery, while it waits for and goes through its transaction.
func (c *Consumer) decode(msgs []jetstream.Msg) *batch {
	b := &batch{
		msgs:    msgs,
		evs:     make([]*event.Event, 0, len(msgs)),
		at:      make([]int, 0, len(msgs)),
		poison:  make([]error, len(msgs)),
		release: keepAlive(msgs, c.cfg.AckWait),
	}
	for i, m := range msgs {
		ev, err := decodeMsg(m)
		if err != nil {
			b.poison[i] = err
			continue
		}
		b.evs = append(b.evs, ev)
		b.at = append(b.at, i)
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
//   - stored (new or duplicate): acknowledged, only after the commit;
//   - cannot be stored (undecodable, or refused by the schema): retried
//     until it was delivered MAX_DELIVER times, then moved to the
//     dead-letter stream and terminated;
//   - not stored for a passing reason (database down): negatively
//     acknowledged for redelivery after CONSUME_RETRY_DELAY, whatever its
//     delivery count, and the error is returned.
func (c *Consumer) process(ctx context.Context, b *batch) (Result, error) {
	start := time.Now()
	defer func() { c.m.batch.Observe(time.Since(start).Seconds()) }()
	// A batch once fetched is finished even when the caller goes away, so
	// what commits is acknowledged rather than left to the ack wait.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()

	msgs, at, poison := b.msgs, b.at, b.poison
	w := c.write(ctx, b.evs)
	b.release()
	res := Result{Inserted: w.inserted, Duplicates: w.duplicates}
	if c.afterCommit != nil && w.inserted+w.duplicates > 0 {
		c.afterCommit()
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
	stored := make([]jetstream.Msg, 0, len(at))
	retried := 0
	for j, i := range at {
		switch {
		case w.stored[j]:
			stored = append(stored, msgs[i])
		case w.bad[j] != nil:
			poison[i] = w.bad[j]
		default:
			retried++
			c.retry(msgs[i])
		}
	}
	for i, cause := range poison {
		if cause == nil {
			continue
		}
		dead, err := c.poisoned(ctx, msgs[i], cause)
		if dead {
			res.DeadLettered++
		} else {
			retried++
		}
		if err != nil {
			keep(err)
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

// poisoned settles a message that cannot be stored: a retry while it has
// deliveries left, else the dead-letter stream. It reports whether the
// message was moved.
func (c *Consumer) poisoned(ctx context.Context, m jetstream.Msg, cause error) (bool, error) {
	meta, err := m.Metadata()
	if err != nil || meta.NumDelivered < uint64(c.cfg.MaxDeliver) {
		c.log.Debug("message cannot be stored; will retry", "subject", m.Subject(), "error", cause)
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
	// stored[j]: evs[j] is committed (inserted now, or its identity was).
	stored []bool
	// bad[j]: evs[j] can never be stored, and why.
	bad                  []error
	inserted, duplicates int
	// err is a passing failure; events neither stored nor bad wait for it.
	err error
}

// write stores evs in one transaction. When the database refuses the batch
// for good (a data or integrity error), it splits the batch in halves until
// the events at fault are alone, so that the others are stored now.
func (c *Consumer) write(ctx context.Context, evs []*event.Event) written {
	w := written{stored: make([]bool, len(evs)), bad: make([]error, len(evs))}
	if len(evs) > 0 {
		w.err = c.writeSplit(ctx, evs, 0, &w)
	}
	return w
}

func (c *Consumer) writeSplit(ctx context.Context, evs []*event.Event, off int, w *written) error {
	r, err := c.store.InsertEvents(ctx, evs)
	if err == nil {
		for j := range evs {
			w.stored[off+j] = true
		}
		w.inserted += r.Inserted
		w.duplicates += r.Duplicates
		return nil
	}
	if !store.IsPermanent(err) {
		return err
	}
	if len(evs) == 1 {
		w.bad[off] = refused(err)
		return nil
	}
	mid := len(evs) / 2
	if err := c.writeSplit(ctx, evs[:mid], off, w); err != nil {
		return err
	}
	return c.writeSplit(ctx, evs[mid:], off+mid, w)
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

// decodeMsg reads an event message; its error means it can never be
// stored (poison). The event is not validated again: ingest did, and what
// the schema refuses is refused by the database, which write isolates.
func decodeMsg(m jetstream.Msg) (*event.Event, error) {
	ev, err := bus.DecodeEventMsg(m.Headers(), m.Data())
	if err != nil {
		return nil, err
	}
	if !auth.ValidProject(ev.Project) {
		return nil, event.Errorf(event.CodeInvalid, "project %q is not a valid project name", ev.Project)
	}
	if ev.ReceivedAt.IsZero() {
		if meta, err := m.Metadata(); err == nil {
			ev.ReceivedAt = meta.Timestamp
		}
	}
	// Ingest gives every event a time; one written without (a replayed
	// old message, a hand-made one) takes its receive time. Presence is
	// asked of the context: Time() is zero for 0001-01-01T00:00:00Z too.
	if ec, ok := ev.CE.Context.(*cloudevents.EventContextV1); ok && ec.Time == nil {
		ev.CE.SetTime(ev.ReceivedAt)
	}
	return ev, nil
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
