package stats

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/rollup"
)

// TestTailCacheKeepsItsBound: resolved tails are found by every part of
// their key, kept up to a count and a total of events (the least recently
// used going first), and one larger than the limit is not kept at all.
func TestTailCacheKeepsItsBound(t *testing.T) {
	c := &tailCache{limit: 100}
	sized := func(n int) *tail { return &tail{evs: make([]tailEvent, n)} }
	rows := []rollup.FeedRow{{Seq: 1}, {Seq: 2}}
	key := func(version int64) tailKey { return keyOf("db", "p", version, 1, 5, 10, false, rows) }

	first := sized(10)
	c.put(key(1), first)
	assert.Same(t, first, c.get(key(1)))
	for _, other := range []tailKey{
		keyOf("db2", "p", 1, 1, 5, 10, false, rows),
		keyOf("db", "q", 1, 1, 5, 10, false, rows),
		key(2),
		keyOf("db", "p", 1, 0, 5, 10, false, rows),
		keyOf("db", "p", 1, 1, 6, 10, false, rows),
		keyOf("db", "p", 1, 1, 5, 11, false, rows),
		keyOf("db", "p", 1, 1, 5, 10, true, rows),
		keyOf("db", "p", 1, 1, 5, 10, false, rows[:1]),
		keyOf("db", "p", 1, 1, 5, 10, false, []rollup.FeedRow{{Seq: 2}, {Seq: 1}}),
	} {
		assert.Nil(t, c.get(other), "%+v", other)
	}

	for v := int64(2); v <= 9; v++ {
		c.get(key(1)) // the first stays the most recently used
		c.put(key(v), sized(5))
		require.LessOrEqual(t, len(c.entries), tailCacheEntries)
	}
	assert.Same(t, first, c.get(key(1)), "used last, kept")
	assert.Nil(t, c.get(key(2)), "used least, dropped")

	c.put(key(20), sized(95))
	assert.LessOrEqual(t, c.events, c.limit)
	assert.NotNil(t, c.get(key(20)))
	assert.Nil(t, c.get(key(1)), "dropped to make room")

	c.put(key(30), sized(101))
	assert.Nil(t, c.get(key(30)), "larger than the limit: not kept")
}

// TestTailCacheFindsABaseToExtend: a kept tail of the same state (all of
// the key but its rows) whose rows are all among the query's is a base,
// the largest one wins, and the rows it lacks are what remains to read.
func TestTailCacheFindsABaseToExtend(t *testing.T) {
	c := &tailCache{limit: 100}
	rows := func(seqs ...int64) []rollup.FeedRow {
		out := make([]rollup.FeedRow, len(seqs))
		for i, s := range seqs {
			out[i] = rollup.FeedRow{Seq: s}
		}
		return out
	}
	key := func(version int64, r []rollup.FeedRow) tailKey { return keyOf("db", "p", version, 1, 5, 10, false, r) }
	small, large := &tail{evs: make([]tailEvent, 2)}, &tail{evs: make([]tailEvent, 4)}
	c.put(key(1, rows(1)), small)
	c.put(key(1, rows(2, 1)), large)
	c.put(key(1, rows(1, 9)), &tail{evs: make([]tailEvent, 9)}) // a row the query does not see
	c.put(key(2, rows(1, 2, 3)), &tail{evs: make([]tailEvent, 9)})

	want := rows(3, 1, 2, 4)
	base, rest := c.base(key(1, want), want)
	assert.Same(t, large, base)
	assert.Equal(t, rows(3, 4), rest)

	base, _ = c.base(key(1, rows(1, 3)), rows(1, 3))
	assert.Same(t, small, base)
	base, _ = c.base(key(3, want), want)
	assert.Nil(t, base, "another version of the rollups")
	base, _ = c.base(keyOf("db", "p", 1, 1, 5, 10, true, want), want)
	assert.Nil(t, base, "another state")
}
