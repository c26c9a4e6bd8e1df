package bus_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
)

// A replica starting against streams that already have its configuration
// must leave them alone (an update races consumer creates inside
// nats-server), and one with a changed configuration must apply it.
func TestEnsureStreamsUpdatesOnlyAChangedStream(t *testing.T) {
	t.Parallel()
	servers(t, func(t *testing.T, url string) {
		ctx := context.Background()
		first := connect(t, url)
		require.NoError(t, first.EnsureStreams(ctx))

		updates := make(chan *nats.Msg, 16)
		sub, err := first.Conn().ChanSubscribe("$JS.EVENT.ADVISORY.STREAM.UPDATED.*", updates)
		require.NoError(t, err)
		defer func() { _ = sub.Unsubscribe() }()
		require.NoError(t, first.Conn().Flush())

		cfg := first.Config()
		same, err := bus.Connect(cfg, "replica", slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		defer same.Close()
		require.NoError(t, same.EnsureStreams(ctx))
		require.NoError(t, same.Conn().Flush())

		cfg.MaxAge = 2 * cfg.MaxAge
		changed, err := bus.Connect(cfg, "new deployment", slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		defer changed.Close()
		require.NoError(t, changed.EnsureStreams(ctx))

		// Advisories leave the server in order: once the marker stream's
		// update arrives, every update before it has arrived too.
		js := first.JetStream()
		marker := jetstream.StreamConfig{Name: cfg.Stream + "_MARK", Subjects: []string{cfg.Subject + "_mark"}}
		_, err = js.CreateStream(ctx, marker)
		require.NoError(t, err)
		defer func() { _ = js.DeleteStream(context.Background(), marker.Name) }()
		marker.MaxAge = time.Hour
		_, err = js.UpdateStream(ctx, marker)
		require.NoError(t, err)
		var updated []string
		for {
			select {
			case msg := <-updates:
				updated = append(updated, strings.TrimPrefix(msg.Subject, "$JS.EVENT.ADVISORY.STREAM.UPDATED."))
			case <-time.After(10 * time.Second):
				t.Fatalf("no update advisory for the marker stream; updates so far: %v", updated)
			}
			if updated[len(updated)-1] == marker.Name {
				break
			}
		}
		assert.Equal(t, []string{cfg.Stream, marker.Name}, updated,
			"only the changed deployment updates a stream, and only the stream it changed")
		info, err := js.Stream(ctx, cfg.Stream)
		require.NoError(t, err)
		assert.Equal(t, cfg.MaxAge, info.CachedInfo().Config.MaxAge)
	})
}
