package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerOptions tune the durable pull consumer that consume-batch drains.
type ConsumerOptions struct {
	// AckWait is how long a delivered message may stay unacknowledged
	// before the server delivers it again.
	AckWait time.Duration
	// MaxAckPending bounds the messages delivered and not yet acknowledged,
	// across every replica; it must cover the replicas' batches in flight.
	MaxAckPending int
}

// EnsureConsumer creates, or updates to opts, the durable pull consumer
// NATS_CONSUMER on the events stream: every subject NATS_SUBJECT.>, from the
// stream's first message, explicit acknowledgement of each message. It is
// idempotent and safe from several replicas at once; the streams are
// ensured first. Errors wrap ErrUnavailable.
//
// The server's own MaxDeliver is left unlimited on purpose. At that limit
// the server stops delivering a message and leaves it unacknowledged for
// ever, whatever the cause of the failures; a message that failed because
// the database was down would then never be stored. consume-batch counts
// deliveries itself (the message metadata's NumDelivered) and dead-letters
// only messages that cannot be stored; see MAX_DELIVER.
func (b *Bus) EnsureConsumer(ctx context.Context, opts ConsumerOptions) (jetstream.Consumer, error) {
	if opts.AckWait <= 0 {
		return nil, errors.New("ensure consumer: AckWait must be positive")
	}
	if err := b.EnsureStreams(ctx); err != nil {
		return nil, err
	}
	cc := jetstream.ConsumerConfig{
		Durable:       b.cfg.Consumer,
		Description:   "eventfn consume-batch: JetStream to PostgreSQL",
		FilterSubject: b.cfg.Subject + ".>",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: opts.MaxAckPending,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
		Replicas:      b.cfg.Replicas,
	}
	c, err := b.js.CreateOrUpdateConsumer(ctx, b.cfg.Stream, cc)
	if err != nil {
		return nil, fmt.Errorf("%w: ensure consumer %s on %s: %v%s", ErrUnavailable, cc.Durable, b.cfg.Stream, err, b.replicasHint(err))
	}
	return c, nil
}

// ConsumerPending returns how many messages the durable consumer has not
// finished with: those not yet delivered (NumPending) plus those delivered
// and not yet acknowledged (NumAckPending, which includes messages waiting
// for a retry and batches in flight at other replicas). Errors wrap
// ErrUnavailable.
func ConsumerPending(ctx context.Context, c jetstream.Consumer) (uint64, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: consumer info: %v", ErrUnavailable, err)
	}
	return info.NumPending + uint64(max(info.NumAckPending, 0)), nil
}

// Fetch takes up to n messages that are ready now from c; when none is and
// wait is positive, it waits up to wait (or until ctx ends) for the first
// one and then takes whatever else is ready. It never waits to fill a
// batch, so a lone event is handed over at once.
//
// Every message returned has been delivered and must be acknowledged or
// negatively acknowledged by the caller; the error, when messages came
// with it, only tells why fewer than n did. No messages and a nil error
// means none was ready. A server that holds back deliveries because
// MaxAckPending is reached counts as "none ready", not as an error.
func Fetch(ctx context.Context, c jetstream.Consumer, n int, wait time.Duration) ([]jetstream.Msg, error) {
	msgs, err := collect(c.FetchNoWait(n))
	if len(msgs) > 0 || err != nil || wait <= 0 {
		return msgs, err
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	first, err := collect(c.Fetch(1, jetstream.FetchContext(wctx)))
	if len(first) == 0 {
		if wctx.Err() != nil {
			// The wait ended with nothing ready: not a failure.
			return nil, nil
		}
		return nil, err
	}
	if n == 1 {
		return first, nil
	}
	rest, err := collect(c.FetchNoWait(n - 1))
	return append(first, rest...), err
}

// collect reads a whole fetch result. Statuses that only mean "nothing more
// to deliver now" are not errors.
func collect(batch jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
	if err != nil {
		return nil, fmt.Errorf("%w: fetch: %v", ErrUnavailable, err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	err = batch.Error()
	switch {
	case err == nil, errors.Is(err, jetstream.ErrNoMessages), isMaxAckPending(err):
		return msgs, nil
	default:
		return msgs, fmt.Errorf("%w: fetch: %v", ErrUnavailable, err)
	}
}

// isMaxAckPending matches the 409 status the server sends to a pull request
// while the consumer is at MaxAckPending; the client library has no
// sentinel for it.
func isMaxAckPending(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "maxackpending")
}
