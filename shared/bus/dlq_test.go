package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/testenv"
)

// TestDeadLetterStreamMadeAgain deletes the dead-letter stream under a
// running bus: readiness says so, and the next dead letter makes the
// stream again instead of failing until a restart.
func TestDeadLetterStreamMadeAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := connect(t, testenv.StartNATS(t).URL())
	c, err := b.EnsureConsumer(ctx, bus.ConsumerOptions{AckWait: 30 * time.Second, MaxAckPending: 100})
	require.NoError(t, err)
	publish(t, b, "shop", "m1")
	waitPending(t, c, 1)
	msgs, err := bus.Fetch(ctx, c, 1, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 1)

	dlq := b.Config().DLQStream
	require.NoError(t, b.JetStream().DeleteStream(ctx, dlq))
	require.NoError(t, b.DeadLetterMsg(ctx, msgs[0], errors.New("cannot store: body \x00\x1b[2J ends")))
	letters, err := b.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, letters, 1)
	assert.Equal(t, "m1", string(letters[0].Data))
	assert.Equal(t, "cannot store: body [2J ends", letters[0].Error, "no control characters for a terminal to run")

	require.NoError(t, b.JetStream().DeleteStream(ctx, dlq))
	assert.ErrorContains(t, b.Ready(ctx), dlq, "not ready without the dead-letter stream")
	assert.NoError(t, b.Ready(ctx), "the next check made it again")
}

func TestDeadLettersKeepOriginAndErrorAndReplay(t *testing.T) {
	t.Parallel()
	servers(t, func(t *testing.T, url string) {
		ctx := context.Background()
		b := connect(t, url)
		c, err := b.EnsureConsumer(ctx, bus.ConsumerOptions{AckWait: 30 * time.Second, MaxAckPending: 100})
		require.NoError(t, err)
		publish(t, b, "shop", "m1", "m2", "m3")
		waitPending(t, c, 3)
		msgs, err := bus.Fetch(ctx, c, 3, 0)
		require.NoError(t, err)
		require.Len(t, msgs, 3)
		for i, m := range msgs {
			cause := errors.New("cannot store: reason " + string(m.Data()) + "\nsecond line")
			require.NoError(t, b.DeadLetterMsg(ctx, m, cause))
			if i == 0 {
				// Moved twice (a crash before the terminate): kept once.
				require.NoError(t, b.DeadLetterMsg(ctx, m, cause))
			}
			require.NoError(t, m.Term())
		}

		letters, err := b.DeadLetters(ctx, 0, 10)
		require.NoError(t, err)
		require.Len(t, letters, 3)
		first := letters[0]
		assert.Equal(t, "m1", string(first.Data))
		assert.Equal(t, b.EventsSubject("shop"), first.Subject)
		assert.Equal(t, b.Config().Stream, first.Stream)
		assert.Equal(t, uint64(1), first.StreamSequence)
		assert.Equal(t, 1, first.Deliveries)
		assert.Equal(t, "cannot store: reason m1 second line", first.Error, "one line")
		assert.Equal(t, "shop", first.Header.Get(bus.HeaderProject))
		assert.Equal(t, "shop-m1", first.Header.Get(bus.HeaderDLQMsgID))
		assert.False(t, first.Time.IsZero())

		page, err := b.DeadLetters(ctx, first.Sequence, 1)
		require.NoError(t, err)
		require.Len(t, page, 1, "limit")
		assert.Equal(t, "m2", string(page[0].Data), "after")

		// Replay the middle one: back on its subject with its headers, gone
		// from the dead letters, and listing skips the gap it leaves.
		seq, err := b.Replay(ctx, letters[1].Sequence)
		require.NoError(t, err)
		s, err := b.JetStream().Stream(ctx, b.Config().Stream)
		require.NoError(t, err)
		raw, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		assert.Equal(t, "m2", string(raw.Data))
		assert.Equal(t, b.EventsSubject("shop"), raw.Subject)
		assert.Equal(t, "shop", raw.Header.Get(bus.HeaderProject))
		for k := range raw.Header {
			assert.False(t, strings.HasPrefix(k, "Eventfn-Dlq-"), "replayed without the dead-letter headers: %s", k)
		}
		// Waits for the first message: the replay reaches the consumer a
		// moment after the stream acknowledged it.
		msgs, err = bus.Fetch(ctx, c, 10, 5*time.Second)
		require.NoError(t, err)
		require.Len(t, msgs, 1, "the consumer gets the replayed message")
		assert.Equal(t, "m2", string(msgs[0].Data()))

		letters, err = b.DeadLetters(ctx, 0, 10)
		require.NoError(t, err)
		require.Len(t, letters, 2)
		assert.Equal(t, "m1", string(letters[0].Data))
		assert.Equal(t, "m3", string(letters[1].Data))
		_, err = b.DeadLetterAt(ctx, page[0].Sequence)
		assert.ErrorIs(t, err, bus.ErrNotDeadLetter)
		_, err = b.Replay(ctx, page[0].Sequence)
		assert.ErrorIs(t, err, bus.ErrNotDeadLetter)
	})
}
