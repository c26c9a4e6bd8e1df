package dlq_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/testenv"
)

// sequences lists the dead letters' sequence numbers through list -json.
func sequences(t *testing.T, list func() (int, string, string)) []uint64 {
	t.Helper()
	code, out, errOut := list()
	require.Equal(t, 0, code, errOut)
	var letters []struct{ Sequence uint64 }
	require.NoError(t, json.Unmarshal([]byte(out), &letters), out)
	seqs := []uint64{}
	for _, l := range letters {
		seqs = append(seqs, l.Sequence)
	}
	return seqs
}

// TestListJSONOfNoDeadLettersIsAnEmptyArray: a program reading the list
// gets valid JSON when there is nothing in it.
func TestListJSONOfNoDeadLettersIsAnEmptyArray(t *testing.T) {
	t.Parallel()
	cfg := testenv.NATS(t, testenv.NATSURL())
	b, err := bus.Connect(cfg, "test", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(b.Close)
	require.NoError(t, b.EnsureStreams(context.Background()))
	code, out, errOut := run(t, cfg, "list", "-json")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "[]\n", out)
}

// TestPurgeAsksThenRemovesForGood: purge shows what it removes and asks;
// only yes removes, and only the letters named.
func TestPurgeAsksThenRemovesForGood(t *testing.T) {
	t.Parallel()
	cfg, _ := deadLetters(t, []byte(`{"id":"1"}`), []byte(`{"id":"2"}`), []byte(`{"id":"3"}`), []byte(`{"id":"4"}`))
	list := func() (int, string, string) { return run(t, cfg, "list", "-json") }
	require.Equal(t, []uint64{1, 2, 3, 4}, sequences(t, list))

	// Anything but yes, or no answer at all, purges nothing.
	for _, answer := range []string{"no\n", "\n", "", "yess\n"} {
		code, out, errOut := runWithInput(t, cfg, answer, "purge", "1", "3")
		assert.Equal(t, 1, code, "answer %q", answer)
		assert.Empty(t, out)
		assert.Contains(t, errOut, "Purge 2 dead letter(s) from "+cfg.DLQStream)
		assert.Contains(t, errOut, "decode cloudevent: bad", "the letters are shown before the question")
		assert.Contains(t, errOut, "not confirmed: nothing purged")
	}
	require.Equal(t, []uint64{1, 2, 3, 4}, sequences(t, list))

	code, out, errOut := runWithInput(t, cfg, "yes\n", "purge", "1", "3")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "purged 1\npurged 3\n", out)
	assert.Equal(t, []uint64{2, 4}, sequences(t, list))

	// A sequence that holds no letter stops the purge before anything goes.
	code, _, errOut = run(t, cfg, "purge", "-yes", "2", "3")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no dead-lettered message at this sequence: 3")
	assert.Equal(t, []uint64{2, 4}, sequences(t, list))

	// -yes asks nothing, wherever it stands; -all takes every letter.
	code, out, errOut = run(t, cfg, "purge", "-all", "-yes")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "purged 2\npurged 4\n", out)
	assert.NotContains(t, errOut, "Type yes")
	assert.Equal(t, []uint64{}, sequences(t, list))

	code, out, _ = run(t, cfg, "purge", "-all")
	assert.Equal(t, 0, code)
	assert.Equal(t, "no dead letters to purge\n", out)
	code, out, _ = run(t, cfg, "list")
	require.Equal(t, 0, code)
	assert.Equal(t, 1, strings.Count(out, "\n"), "only the header line is left:\n%s", out)
}

// TestPurgeYesAfterTheSequences: flags may follow the sequence numbers.
func TestPurgeYesAfterTheSequences(t *testing.T) {
	t.Parallel()
	cfg, _ := deadLetters(t, []byte(`{"id":"1"}`), []byte(`{"id":"2"}`))
	code, out, errOut := run(t, cfg, "purge", "2", "-yes")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "purged 2\n", out)
	assert.Equal(t, []uint64{1}, sequences(t, func() (int, string, string) { return run(t, cfg, "list", "-json") }))
}
