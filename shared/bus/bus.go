package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventfn/eventfn/shared/config"
)

// ErrUnavailable wraps every failure to reach the broker, so callers can
// answer 503 and let the client retry.
var ErrUnavailable = errors.New("jetstream unavailable")

// maxPendingAcks bounds messages published but not yet acknowledged across
// all requests of one replica; past it publishing waits, which is the
// back-pressure a saturated stream needs.
const maxPendingAcks = 16384

// Bus is a connection to NATS with the eventfn streams.
type Bus struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg config.NATS
	log *slog.Logger

	mu      sync.Mutex
	ensured bool
}

// Connect dials NATS. It does not wait for the server: a function must start
// and report unready (not crash) while NATS is down, and publishing fails
// fast with ErrUnavailable until it is back.
func Connect(cfg config.NATS, name string, log *slog.Logger) (*Bus, error) {
	nc, err := nats.Connect(cfg.NATSURL,
		nats.Name("eventfn-"+name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		// No buffering while disconnected: a publish must fail at once
		// instead of being flushed later, after the client was told 503.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrl()) }),
		// Without a handler nats.go prints asynchronous errors (a slow
		// consumer, a permission violation) as plain text on stderr.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("nats asynchronous error", "error", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("nats connect: %w", err)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(maxPendingAcks),
		jetstream.WithPublishAsyncTimeout(30*time.Second),
	)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Bus{nc: nc, js: js, cfg: cfg, log: log}, nil
}

// JetStream returns the JetStream context for consumers.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Conn returns the NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// Config returns the NATS settings the bus was built with.
func (b *Bus) Config() config.NATS { return b.cfg }

// Close drains nothing: every publish has been waited for by its request.
func (b *Bus) Close() { b.nc.Close() }

// MaxRecordsBytes is the most record bytes one message should carry: the
// server's maximum payload, less room for headers.
func (b *Bus) MaxRecordsBytes() int {
	return max(int(b.nc.MaxPayload())-8<<10, 64<<10)
}

// EventsSubject is the subject of a project's events.
func (b *Bus) EventsSubject(project string) string { return b.cfg.Subject + "." + project }

// EnsureStreams creates or updates the events and dead-letter streams. It is
// idempotent and safe from several replicas at once.
func (b *Bus) EnsureStreams(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ensured {
		return nil
	}
	if !b.nc.IsConnected() {
		return fmt.Errorf("%w: not connected to %s", ErrUnavailable, b.cfg.NATSURL)
	}
	streams := []jetstream.StreamConfig{{
		Name:       b.cfg.Stream,
		Subjects:   []string{b.cfg.Subject + ".>"},
		Storage:    jetstream.FileStorage,
		Replicas:   b.cfg.Replicas,
		Duplicates: b.cfg.DuplicateWindow,
		MaxAge:     b.cfg.MaxAge,
		Retention:  jetstream.LimitsPolicy,
		Discard:    jetstream.DiscardOld,
	}, {
		Name:     b.cfg.DLQStream,
		Subjects: []string{b.cfg.DLQSubject + ".>"},
		Storage:  jetstream.FileStorage,
		Replicas: b.cfg.Replicas,
	}}
	for _, sc := range streams {
		if err := b.ensureStream(ctx, sc); err != nil {
			return fmt.Errorf("%w: ensure stream %s: %v%s", ErrUnavailable, sc.Name, err, b.replicasHint(err))
		}
	}
	b.ensured = true
	return nil
}

// ensureStream creates the stream, and updates it only when it exists with
// another configuration. The server answers a create with the same
// configuration without touching the stream, so replicas starting together
// do not rewrite it: a stream update racing another replica's consumer
// create is a data race inside nats-server 2.15 (fileStore.UpdateConfig
// against ConsumerStore), and the update would be work for nothing anyway.
func (b *Bus) ensureStream(ctx context.Context, sc jetstream.StreamConfig) error {
	_, err := b.js.CreateStream(ctx, sc)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		_, err = b.js.UpdateStream(ctx, sc)
	}
	return err
}

// replicasHint names NATS_REPLICAS when JetStream refused a stream or
// consumer and more than one replica is asked for: a server with fewer
// JetStream peers than that refuses them, and the refusal alone does not
// say which setting to change.
func (b *Bus) replicasHint(err error) string {
	var apiErr *jetstream.APIError
	if b.cfg.Replicas > 1 && errors.As(err, &apiErr) {
		return fmt.Sprintf(" (NATS_REPLICAS is %d: JetStream needs that many servers in its cluster)", b.cfg.Replicas)
	}
	return ""
}

// Ready reports whether NATS is connected and the events stream exists.
func (b *Bus) Ready(ctx context.Context) error {
	if !b.nc.IsConnected() {
		return fmt.Errorf("nats: not connected (%s)", b.nc.Status())
	}
	if err := b.EnsureStreams(ctx); err != nil {
		return err
	}
	for _, name := range []string{b.cfg.Stream, b.cfg.DLQStream} {
		if _, err := b.js.Stream(ctx, name); err != nil {
			// Made again by the next EnsureStreams.
			b.forgetStreams()
			return fmt.Errorf("nats: stream %s: %w", name, err)
		}
	}
	return nil
}

// forgetStreams makes the next EnsureStreams ask the server again.
func (b *Bus) forgetStreams() {
	b.mu.Lock()
	b.ensured = false
	b.mu.Unlock()
}

// PubResult is the stream's answer to one published message.
type PubResult struct {
	// Duplicate is true when the stream already held a message with the
	// same message id within its duplicate window.
	Duplicate bool
	Sequence  uint64
}

// PublishAll publishes msgs asynchronously and waits until the stream has
// acknowledged every one, or ctx ends. Any failure returns an error wrapping
// ErrUnavailable: the caller must then treat the whole set as not accepted
// (some may still have reached the stream; their message ids make a retry
// safe).
func (b *Bus) PublishAll(ctx context.Context, msgs []*nats.Msg) ([]PubResult, error) {
	if err := b.EnsureStreams(ctx); err != nil {
		return nil, err
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		f, err := b.js.PublishMsgAsync(m, jetstream.WithExpectStream(b.cfg.Stream))
		if err != nil {
			return nil, fmt.Errorf("%w: publish: %v", ErrUnavailable, err)
		}
		futures[i] = f
	}
	results := make([]PubResult, len(msgs))
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			results[i] = PubResult{Duplicate: ack.Duplicate, Sequence: ack.Sequence}
		case err := <-f.Err():
			return nil, fmt.Errorf("%w: publish ack: %v", ErrUnavailable, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for acks: %v", ErrUnavailable, ctx.Err())
		}
	}
	return results, nil
}
