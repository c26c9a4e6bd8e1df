package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/store"
)

// idleWait is how long the continuous loop's pull request waits for a
// message when none is ready. It only bounds idle polling: a message that
// arrives during the wait is handed over at once.
const idleWait = 5 * time.Second

// drainSettle is how long a drain waits once more when a fetch came back
// empty although messages are undelivered (see undelivered): a message
// the stream has just acknowledged may not be ready at the consumer for a
// moment, and a drain triggered right after an ingest must not stop
// before it.
const drainSettle = 250 * time.Millisecond

// Backoff of the continuous loop after a failure (NATS or PostgreSQL down).
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Result is the answer of a drain (POST / without events). Its counts are
// of events; a stream message may hold many.
type Result struct {
	// Consumed counts events finished with: Inserted + Duplicates +
	// DeadLettered. Events left for a retry are in Pending's messages.
	Consumed int `json:"consumed"`
	// Inserted counts events stored now.
	Inserted int `json:"inserted"`
	// Duplicates counts events whose identity was stored before.
	Duplicates int `json:"duplicates"`
	// DeadLettered counts events moved to the dead-letter stream (a
	// message that could not be read at all counts as one).
	DeadLettered int `json:"dead_lettered"`
	// Pending is what the durable consumer has left after the drain, in
	// messages: not yet delivered plus delivered and not yet acknowledged
	// (waiting for a retry, or in flight at another replica). 0 means every
	// accepted event is stored, and counted by every stats answer.
	Pending uint64 `json:"pending"`
}

func (r *Result) add(o Result) {
	r.Consumed += o.Consumed
	r.Inserted += o.Inserted
	r.Duplicates += o.Duplicates
	r.DeadLettered += o.DeadLettered
}

// Consumer moves events from the durable JetStream consumer into
// PostgreSQL. Any number of Consumers, in one process or many, may drain
// the same durable consumer at once.
type Consumer struct {
	cfg   Config
	bus   *bus.Bus
	pool  *pgxpool.Pool
	store *store.Store
	log   *slog.Logger
	m     *metrics

	mu       sync.Mutex
	migrated bool
	cons     jetstream.Consumer

	// rollups moves stored events from the feed into the rollups.
	rollups *rollup.Materializer
	// wake tells the materializer loop that events were stored.
	wake chan struct{}
	// nudge is called after a batch stored new events (wakes the
	// materializer loop; nil in tests that drive it themselves).
	nudge func()
	// perMsg estimates the events a message holds, to size fetches.
	perMsg atomic.Int64

	// afterCommit, when set (tests only), runs after a batch's transaction
	// committed and before any of its messages is acknowledged.
	afterCommit func()
}

// NewConsumer connects to PostgreSQL and NATS, applies the migrations and
// makes sure the streams and the durable consumer exist. Neither service
// has to be up: what fails at start is retried on first use, and the
// function reports unready until then.
func NewConsumer(ctx context.Context, cfg Config, deps serve.Deps) (*Consumer, error) {
	pool, err := store.Open(ctx, cfg.Postgres)
	if err != nil {
		return nil, err
	}
	b, err := bus.Connect(cfg.NATS, "consume-batch", deps.Logger)
	if err != nil {
		pool.Close()
		return nil, err
	}
	c := &Consumer{
		cfg:     cfg,
		bus:     b,
		pool:    pool,
		store:   store.New(pool),
		log:     deps.Logger,
		m:       newMetrics(deps.Registerer),
		rollups: rollup.NewMaterializer(pool, cfg.RollupChunk),
		wake:    make(chan struct{}, 1),
	}
	c.nudge = c.wakeRollups
	if _, err := c.prepare(ctx); err != nil {
		deps.Logger.Warn("not ready at start; retrying on first use", "error", err)
	}
	return c, nil
}

// Close releases the connections.
func (c *Consumer) Close() {
	c.bus.Close()
	c.pool.Close()
}

// Ready reports whether PostgreSQL and NATS are reachable, the schema is
// migrated and the durable consumer exists.
func (c *Consumer) Ready(ctx context.Context) error {
	if err := c.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := c.bus.Ready(ctx); err != nil {
		return err
	}
	_, err := c.prepare(ctx)
	return err
}

// migrate applies the migrations, once per process.
func (c *Consumer) migrate(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.migrated {
		return nil
	}
	if err := store.Migrate(ctx, c.pool); err != nil {
		return fmt.Errorf("%w: %w", errUnavailable, err)
	}
	c.migrated = true
	return nil
}

// prepare migrates and ensures the durable consumer, once.
func (c *Consumer) prepare(ctx context.Context) (jetstream.Consumer, error) {
	if err := c.migrate(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cons == nil {
		cons, err := c.bus.EnsureConsumer(ctx, bus.ConsumerOptions{AckWait: c.cfg.AckWait, MaxAckPending: c.cfg.MaxAckPending})
		if err != nil {
			return nil, err
		}
		c.cons = cons
	}
	return c.cons, nil
}

// forgetConsumer makes the next prepare ensure the consumer again, after a
// fetch failed (it may have been deleted, or the stream recreated).
func (c *Consumer) forgetConsumer() {
	c.mu.Lock()
	c.cons = nil
	c.mu.Unlock()
}

// errUnavailable marks passing failures of PostgreSQL; NATS failures wrap
// bus.ErrUnavailable.
var errUnavailable = errors.New("database unavailable")

// Drain takes messages from the durable consumer in batches until none is
// ready, CONSUME_MAX_EVENTS events were taken or CONSUME_MAX_SECONDS
// passed, and stores them. Every message it reports as consumed was
// acknowledged after the transaction holding its events committed. On a
// passing failure it returns what it did so far and an error; the messages
// not stored are delivered again later.
func (c *Consumer) Drain(ctx context.Context) (Result, error) {
	cons, err := c.prepare(ctx)
	if err != nil {
		return Result{}, err
	}
	deadline := time.Now().Add(time.Duration(c.cfg.MaxSeconds) * time.Second)
	taken := 0
	res, err := c.pump(ctx, func(ctx context.Context) ([]jetstream.Msg, bool, error) {
		if taken >= c.cfg.MaxEvents || !time.Now().Before(deadline) {
			return nil, false, nil
		}
		msgs, n, err := c.fetch(ctx, cons, min(c.cfg.BatchSize, c.cfg.MaxEvents-taken), 0)
		if len(msgs) == 0 && err == nil && c.undelivered(ctx, cons) {
			msgs, n, err = c.fetch(ctx, cons, min(c.cfg.BatchSize, c.cfg.MaxEvents-taken), drainSettle)
		}
		taken += n
		return msgs, len(msgs) > 0, err
	})
	if err != nil {
		return res, err
	}
	if res.Pending, err = bus.ConsumerPending(ctx, cons); err != nil {
		return res, err
	}
	return res, nil
}

// maxFetchRound bounds the messages one fetch asks for.
const maxFetchRound = 500

// maxBatchBytes bounds the message bytes of one batch, whatever its events
// hold: a batch is held a few times over while it is stored (messages,
// records, COPY buffers), and must stay well inside a replica's memory
// (512 MiB in the deploy files) even with events of the largest size
// ingest accepts.
const maxBatchBytes = 16 << 20

// fetch takes messages holding about want events, and at most about
// maxBatchBytes (at least one message when any is ready; when none is and
// wait is positive, it waits up to wait for one), in rounds sized by the
// events messages held so far. It returns the messages and the events
// they hold.
func (c *Consumer) fetch(ctx context.Context, cons jetstream.Consumer, want int, wait time.Duration) ([]jetstream.Msg, int, error) {
	var msgs []jetstream.Msg
	events, size := 0, 0
	for events < want && size < maxBatchBytes {
		// Before any message was seen the first round takes one, to learn
		// what messages hold: a guess made a replica's first batch several
		// times the batch size when its messages held more (ingest's hold
		// a request each).
		k := 1
		if per := c.perMsg.Load(); per > 0 {
			k = int(min(max((int64(want-events)+per-1)/per, 1), maxFetchRound))
		}
		round, err := bus.Fetch(ctx, cons, k, wait)
		wait = 0
		n := 0
		for _, m := range round {
			n += eventsIn(m)
			size += len(m.Data())
		}
		msgs, events = append(msgs, round...), events+n
		if len(round) > 0 {
			c.perMsg.Store(int64(max(n/len(round), 1)))
		}
		if err != nil || len(round) < k {
			return msgs, events, err
		}
	}
	return msgs, events, nil
}

// eventsIn returns how many events m holds, as its header says (one for a
// message of the one-event format).
func eventsIn(m jetstream.Msg) int {
	if n, err := strconv.Atoi(m.Headers().Get(bus.HeaderEvents)); err == nil && n > 0 {
		return n
	}
	return 1
}

// undelivered reports whether the consumer counts messages not yet
// delivered to anyone, or the stream holds messages past the last one the
// consumer delivered: right after a publish was acknowledged, a server
// (seen with 2.15) may still count the message in the stream and not yet
// in the consumer's NumPending, and a drain must not answer pending 0
// then. The consumer's filter is the whole stream, so a later sequence is
// a message it has not delivered.
func (c *Consumer) undelivered(ctx context.Context, cons jetstream.Consumer) bool {
	info, err := cons.Info(ctx)
	if err != nil {
		return false
	}
	if info.NumPending > 0 {
		return true
	}
	// Looking the stream up fetches its info already.
	stream, err := c.bus.JetStream().Stream(ctx, info.Stream)
	return err == nil && stream.CachedInfo().State.LastSeq > info.Delivered.Stream
}

// Run drains continuously until ctx ends: an accepted event is stored as
// soon as it reaches the stream. Failures are logged and retried with
// backoff; Run returns only ctx's error.
func (c *Consumer) Run(ctx context.Context) error {
	backoff := minBackoff
	for ctx.Err() == nil {
		res, err := c.runOnce(ctx)
		if err == nil || ctx.Err() != nil {
			continue
		}
		if res.Consumed > 0 {
			backoff = minBackoff
		}
		c.log.Warn("consume loop", "error", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
	return ctx.Err()
}

// runOnce pumps batches, each handed over as soon as its first message
// is, until ctx ends or something fails.
func (c *Consumer) runOnce(ctx context.Context) (Result, error) {
	cons, err := c.prepare(ctx)
	if err != nil {
		return Result{}, err
	}
	return c.pump(ctx, func(ctx context.Context) ([]jetstream.Msg, bool, error) {
		c.holdForRollups(ctx)
		msgs, _, err := c.fetch(ctx, cons, c.cfg.BatchSize, idleWait)
		return msgs, ctx.Err() == nil, err
	})
}

// holdPoll is how often a held drain loop looks at the rollup backlog.
const holdPoll = 100 * time.Millisecond

// holdForRollups returns once the rollup feed holds fewer than
// ROLLUP_MAX_BACKLOG_EVENTS events (or ctx ended). Under a load the
// materializers cannot keep up with, the backlog then waits in the stream,
// where it costs nothing, instead of in the feed, where every stats
// answer reads it. A failed read does not hold: the insert will tell.
func (c *Consumer) holdForRollups(ctx context.Context) {
	limit := int64(c.cfg.MaxRollupBacklog)
	if limit == 0 {
		return
	}
	var since time.Time
	for ctx.Err() == nil {
		b, err := rollup.FeedBacklog(ctx, c.pool)
		if err != nil || b.Events < limit {
			break
		}
		if since.IsZero() {
			since = time.Now()
			c.log.Info("holding the drain loop until the rollups catch up", "backlog_events", b.Events, "limit", limit)
		}
		c.wakeRollups()
		sleep(ctx, holdPoll)
	}
	if !since.IsZero() {
		held := time.Since(since)
		c.m.held.Add(held.Seconds())
		c.log.Info("drain loop resumed", "held", held.Round(time.Millisecond).String())
	}
}

// pump stores the batches next fetches until next says there are no more,
// a fetch fails or a batch fails. It fetches and decodes one batch ahead
// while the previous one is in its transaction, so that the database, the
// broker and the decoding work at once; after a failure the batch fetched
// ahead is given back untried.
func (c *Consumer) pump(ctx context.Context, next func(context.Context) ([]jetstream.Msg, bool, error)) (Result, error) {
	fctx, stopFetching := context.WithCancel(ctx)
	defer stopFetching()
	batches := make(chan *batch, 1)
	var fetchErr error
	go func() {
		defer close(batches)
		for {
			msgs, more, err := next(fctx)
			if len(msgs) > 0 {
				batches <- c.decode(msgs)
			}
			if err != nil {
				fetchErr = err
				return
			}
			if !more || fctx.Err() != nil {
				return
			}
		}
	}()
	var res Result
	var firstErr error
	for b := range batches {
		if firstErr != nil {
			c.abandon(b)
			continue
		}
		out, err := c.process(ctx, b)
		res.add(out)
		if err != nil {
			firstErr = err
			stopFetching()
		}
	}
	// The channel is closed: the fetching goroutine is done with fetchErr.
	if firstErr == nil && fetchErr != nil {
		c.m.failures.WithLabelValues("fetch").Inc()
		c.forgetConsumer()
		firstErr = fetchErr
	}
	return res, firstErr
}
