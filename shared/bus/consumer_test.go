package bus_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/testenv"
)

// servers runs test on the machine's NATS (2.9) and on an embedded server
// of the nats-server module, as the bus must work on both.
func servers(t *testing.T, test func(t *testing.T, url string)) {
	t.Helper()
	for _, name := range []string{"shared", "embedded"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := testenv.NATSURL()
			if name == "embedded" {
				url = testenv.StartNATS(t).URL()
			}
			test(t, url)
		})
	}
}

func connect(t *testing.T, url string) *bus.Bus {
	t.Helper()
	b, err := bus.Connect(testenv.NATS(t, url), "test", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

func publish(t *testing.T, b *bus.Bus, project string, bodies ...string) {
	t.Helper()
	msgs := make([]*nats.Msg, len(bodies))
	for i, body := range bodies {
		msgs[i] = nats.NewMsg(b.EventsSubject(project))
		msgs[i].Data = []byte(body)
		msgs[i].Header.Set(bus.HeaderProject, project)
		msgs[i].Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%s", project, body))
	}
	_, err := b.PublishAll(context.Background(), msgs)
	require.NoError(t, err)
}

func TestEnsureConsumerIsIdempotentAcrossReplicas(t *testing.T) {
	t.Parallel()
	servers(t, func(t *testing.T, url string) {
		ctx := context.Background()
		b := connect(t, url)
		opts := bus.ConsumerOptions{AckWait: 7 * time.Second, MaxAckPending: 1234}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			// Replicas starting together, each with its own connection.
			r, err := bus.Connect(b.Config(), "replica", slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			defer r.Close()
			wg.Go(func() { _, errs[i] = r.EnsureConsumer(ctx, opts) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		c, err := b.EnsureConsumer(ctx, opts)
		require.NoError(t, err)
		info, err := c.Info(ctx)
		require.NoError(t, err)
		assert.Equal(t, b.Config().Consumer, info.Config.Durable)
		assert.Equal(t, b.Config().Subject+".>", info.Config.FilterSubject)
		assert.Equal(t, jetstream.AckExplicitPolicy, info.Config.AckPolicy)
		assert.Equal(t, 7*time.Second, info.Config.AckWait)
		assert.Equal(t, 1234, info.Config.MaxAckPending)
		assert.Equal(t, -1, info.Config.MaxDeliver, "deliveries are counted by consume-batch, not capped by the server")

		// A changed setting (a new deployment) updates the consumer.
		_, err = b.EnsureConsumer(ctx, bus.ConsumerOptions{AckWait: 9 * time.Second, MaxAckPending: 1234})
		require.NoError(t, err)
		info, err = c.Info(ctx)
		require.NoError(t, err)
		assert.Equal(t, 9*time.Second, info.Config.AckWait)
	})
}

func TestFetchTakesWhatIsReadyAndWaitsForTheFirst(t *testing.T) {
	t.Parallel()
	servers(t, func(t *testing.T, url string) {
		ctx := context.Background()
		b := connect(t, url)
		c, err := b.EnsureConsumer(ctx, bus.ConsumerOptions{AckWait: 30 * time.Second, MaxAckPending: 100})
		require.NoError(t, err)

		msgs, err := bus.Fetch(ctx, c, 10, 0)
		require.NoError(t, err)
		assert.Empty(t, msgs, "nothing ready, no wait")

		publish(t, b, "shop", "a", "b", "c")
		waitPending(t, c, 3)
		msgs, err = bus.Fetch(ctx, c, 2, 0)
		require.NoError(t, err)
		require.Len(t, msgs, 2, "never more than asked")
		for _, m := range msgs {
			// Synchronous: the pending count read next is then exact.
			require.NoError(t, m.DoubleAck(ctx))
		}
		pending, err := bus.ConsumerPending(ctx, c)
		require.NoError(t, err)
		assert.Equal(t, uint64(1), pending, "one not yet delivered")

		msgs, err = bus.Fetch(ctx, c, 10, 0)
		require.NoError(t, err)
		require.Len(t, msgs, 1, "a partial batch is handed over at once")
		pending, err = bus.ConsumerPending(ctx, c)
		require.NoError(t, err)
		assert.Equal(t, uint64(1), pending, "delivered, not acknowledged")
		require.NoError(t, msgs[0].DoubleAck(ctx))

		// With a wait, a message published during the wait is returned.
		got := make(chan []jetstream.Msg, 1)
		go func() {
			msgs, _ := bus.Fetch(ctx, c, 10, time.Minute)
			got <- msgs
		}()
		publish(t, b, "shop", "d")
		msgs = <-got
		require.Len(t, msgs, 1)
		assert.Equal(t, "d", string(msgs[0].Data()))
	})
}

func TestFetchWithWaitReturnsNothingWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	b := connect(t, testenv.NATSURL())
	c, err := b.EnsureConsumer(ctx, bus.ConsumerOptions{AckWait: 30 * time.Second, MaxAckPending: 100})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		msgs, err := bus.Fetch(ctx, c, 10, time.Hour)
		assert.Empty(t, msgs)
		done <- err
	}()
	cancel()
	assert.NoError(t, <-done)
}

// waitPending waits until the consumer holds n messages: a message the
// stream acknowledged may reach the consumer a moment later.
func waitPending(t *testing.T, c jetstream.Consumer, n uint64) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, func() bool {
		p, err := bus.ConsumerPending(context.Background(), c)
		return err == nil && p == n
	}, "consumer holds %d messages", n)
}

// A single server cannot hold three replicas; the refusal names the
// setting to change.
func TestTooManyReplicasNamesTheSetting(t *testing.T) {
	cfg := testenv.NATS(t, testenv.StartNATS(t).URL())
	cfg.Replicas = 3
	b, err := bus.Connect(cfg, "test", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(b.Close)
	err = b.EnsureStreams(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NATS_REPLICAS is 3")
}
