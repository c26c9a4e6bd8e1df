package dlq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/dlq"
	"github.com/eventfn/eventfn/shared/testenv"
)

// deadLetters puts bodies on the events stream and moves each to the
// dead-letter stream as consume-batch would.
func deadLetters(t *testing.T, bodies ...[]byte) (config.NATS, *bus.Bus) {
	t.Helper()
	ctx := context.Background()
	cfg := testenv.NATS(t, testenv.NATSURL())
	b, err := bus.Connect(cfg, "test", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(b.Close)
	c, err := b.EnsureConsumer(ctx, bus.ConsumerOptions{AckWait: 30 * time.Second, MaxAckPending: 100})
	require.NoError(t, err)
	msgs := make([]*nats.Msg, len(bodies))
	for i, body := range bodies {
		msgs[i] = nats.NewMsg(b.EventsSubject("shop"))
		msgs[i].Data = body
		msgs[i].Header.Set(bus.HeaderProject, "shop")
	}
	_, err = b.PublishAll(ctx, msgs)
	require.NoError(t, err)
	got, err := bus.Fetch(ctx, c, len(bodies), 0)
	require.NoError(t, err)
	require.Len(t, got, len(bodies))
	for _, m := range got {
		require.NoError(t, b.DeadLetterMsg(ctx, m, errors.New("decode cloudevent: bad")))
		require.NoError(t, m.Term())
	}
	return cfg, b
}

func run(t *testing.T, cfg config.NATS, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runWithInput(t, cfg, "", args...)
}

// runWithInput runs the tool with input as what the operator types.
func runWithInput(t *testing.T, cfg config.NATS, input string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = dlq.RunWithInput(context.Background(), cfg, args, strings.NewReader(input), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestListShowReplayAll(t *testing.T) {
	t.Parallel()
	cfg, b := deadLetters(t, []byte(`{"id":"a"}`), []byte{0xff, 0xfe, 0x00})

	code, out, errOut := run(t, cfg, "list", "-json")
	require.Equal(t, 0, code, errOut)
	var letters []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &letters), out)
	require.Len(t, letters, 2)
	first, second := letters[0], letters[1]
	assert.Equal(t, `{"id":"a"}`, first["data"])
	assert.Equal(t, "decode cloudevent: bad", first["error"])
	assert.Equal(t, b.EventsSubject("shop"), first["subject"])
	assert.Equal(t, "//4A", second["data_base64"], "a body that is not text comes as base64")

	code, out, _ = run(t, cfg, "show", "2")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "body (base64):\n//4A")
	assert.Contains(t, out, "Eventfn-Project: shop")

	code, out, errOut = run(t, cfg, "replay", "-all")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 2, strings.Count(out, "replayed "), out)
	code, out, _ = run(t, cfg, "list")
	require.Equal(t, 0, code)
	assert.Equal(t, 1, strings.Count(out, "\n"), "only the header line is left:\n%s", out)
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	cfg := testenv.NATS(t, testenv.NATSURL())
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"show"},
		{"show", "x"},
		{"replay"},
		{"replay", "-all", "3"},
		{"list", "-limit", "0"},
		{"purge"},
		{"purge", "-yes"},
		{"purge", "-all", "3"},
		{"purge", "x"},
	} {
		code, _, errOut := run(t, cfg, args...)
		assert.Equal(t, 2, code, "%q", args)
		assert.Contains(t, errOut, "usage: scripts/dlq", "%q", args)
	}
	code, _, errOut := run(t, cfg, "show", "99")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "dead-letter stream")
}
