package stats

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFeedCacheKeepsItsBound holds the decoded feed rows a process keeps
// to its limit, the lowest seqs (the next to be materialized) going
// first, so that a long backlog cannot grow a stats replica's memory
// without end.
func TestFeedCacheKeepsItsBound(t *testing.T) {
	c := &feedCache{limit: 100}
	row := func() []feedEvent { return make([]feedEvent, 30) }
	for seq := int64(1); seq <= 10; seq++ {
		c.put(feedKey{"db", seq}, row())
		require.LessOrEqual(t, c.events, c.limit, "after seq %d", seq)
	}
	total := 0
	for k, evs := range c.rows {
		total += len(evs)
		assert.Greater(t, k.seq, int64(7), "the newest rows stay, the oldest go")
	}
	assert.Equal(t, c.events, total, "the count follows the rows")
	// Another database's row of the same seq is another row.
	before := len(c.rows)
	c.put(feedKey{"other", 10}, row())
	assert.Len(t, c.rows, before+1)
}
