package stats

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/rollup"
)

// TestFeedCacheKeepsItsBound holds the decoded feed rows a process keeps
// to its limit, the lowest seqs (the next to be materialized) going
// first, so that a long backlog cannot grow a stats replica's memory
// without end.
func TestFeedCacheKeepsItsBound(t *testing.T) {
	c := &feedCache{limit: 100}
	row := func() *feedPart { return &feedPart{evs: make([]feedEvent, 30)} }
	for seq := int64(1); seq <= 10; seq++ {
		c.put(feedKey{"db", seq}, row())
		require.LessOrEqual(t, c.events, c.limit, "after seq %d", seq)
	}
	total := 0
	for k, part := range c.rows {
		total += len(part.evs)
		assert.Greater(t, k.seq, int64(7), "the newest rows stay, the oldest go")
	}
	assert.Equal(t, c.events, total, "the count follows the rows")
	// Another database's row of the same seq is another row.
	before := len(c.rows)
	c.put(feedKey{"other", 10}, row())
	assert.Len(t, c.rows, before+1)
}

// TestFeedPartReadsPropertiesOnDemand gives every reader of a cached row
// the values EventProps gives each key, however many ask at once: the row
// is shared by the queries of a process.
func TestFeedPartReadsPropertiesOnDemand(t *testing.T) {
	raw := [][]byte{[]byte(`{"plan":"pro","n":3}`), nil, []byte(`{"nested":{"a":1},"ok":true,"plan":"team"}`), []byte(`{"plan":null}`)}
	evs := make([]rollup.Event, len(raw))
	for i, b := range raw {
		evs[i] = rollup.Event{Type: "t", Props: b}
	}
	part := toFeedPart(evs)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, key := range []string{"plan", "n", "nested", "ok", "absent"} {
				got := part.valuesOf(key)
				require.Len(t, got, len(raw))
				for i, b := range raw {
					want := ""
					for _, p := range rollup.EventProps(b) {
						if p.Key == key {
							want = p.Value
						}
					}
					assert.Equal(t, want, got[i], "event %d, key %s", i, key)
				}
			}
		})
	}
	wg.Wait()
}
