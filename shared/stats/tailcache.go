package stats

import (
	"encoding/binary"
	"slices"
	"sync"

	"github.com/eventfn/eventfn/shared/rollup"
)

// tailCache keeps the last tails loadTail built, ids resolved, so that
// questions asked again while the rollups stand still (a dashboard
// refreshing, several charts over the same days) pay for resolving the
// tail's users and types once: that was most of such a query's time. A
// tail is a function of its key: feed rows never change once written
// (their seqs name them), and what rollup_users and rollup_names say of
// them changes only in the transactions that bump the rollups' version
// (materialization steps and rebuilds), which also fixes the highest user
// id. While the feed grows in one version, a kept tail is also the base a
// later query extends (base). Callers must not change a tail they got.
// Safe for concurrent use; one per process.
type tailCache struct {
	mu      sync.Mutex
	entries []tailEntry // least recently used first
	events  int
	limit   int
}

type tailKey struct {
	instance, project string
	version           int64
	lo, hi            rollup.Day
	top               uint32
	firstSeen         bool
	// seqs are the feed rows' seqs, in the order FeedRows gave them.
	seqs string
}

type tailEntry struct {
	key tailKey
	t   *tail
}

// tailCacheEntries bounds the tails kept, whatever their size: a few
// functions and ranges asked at once.
const tailCacheEntries = 8

// resolvedTails is the process's cache, bounded at about the events the
// feed cache holds (the tails share their properties with it).
var resolvedTails = &tailCache{limit: 250_000}

// keyOf returns the key of a tail over rows.
func keyOf(instance, project string, version int64, lo, hi rollup.Day, top uint32, firstSeen bool, rows []rollup.FeedRow) tailKey {
	seqs := make([]byte, 0, 8*len(rows))
	for _, r := range rows {
		seqs = binary.LittleEndian.AppendUint64(seqs, uint64(r.Seq))
	}
	return tailKey{instance, project, version, lo, hi, top, firstSeen, string(seqs)}
}

func (c *tailCache) get(k tailKey) *tail {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.entries {
		if e.key == k {
			c.entries = append(append(c.entries[:i:i], c.entries[i+1:]...), e)
			return e.t
		}
	}
	return nil
}

// base returns the tail of the most events kept for k's state (all of k
// but its rows) whose rows are all among rows, with the rows it lacks; nil
// when there is none. Within one version of the rollups the feed only
// gains rows, so a later snapshot's tail extends an earlier one's.
func (c *tailCache) base(k tailKey, rows []rollup.FeedRow) (*tail, []rollup.FeedRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best *tailEntry
	var in map[int64]bool // rows' seqs, made when a candidate needs them
	for i := range c.entries {
		e := &c.entries[i]
		state := e.key
		state.seqs = k.seqs
		if state != k || len(e.key.seqs) >= len(k.seqs) || (best != nil && len(e.t.evs) <= len(best.t.evs)) {
			continue
		}
		if in == nil {
			in = make(map[int64]bool, len(rows))
			for _, r := range rows {
				in[r.Seq] = true
			}
		}
		if !slices.ContainsFunc(seqsOf(e.key.seqs), func(seq int64) bool { return !in[seq] }) {
			best = e
		}
	}
	if best == nil {
		return nil, nil
	}
	have := map[int64]bool{}
	for _, seq := range seqsOf(best.key.seqs) {
		have[seq] = true
	}
	var rest []rollup.FeedRow
	for _, r := range rows {
		if !have[r.Seq] {
			rest = append(rest, r)
		}
	}
	return best.t, rest
}

// seqsOf returns the seqs a key's seqs string packs (keyOf).
func seqsOf(packed string) []int64 {
	out := make([]int64, 0, len(packed)/8)
	for ; len(packed) > 0; packed = packed[8:] {
		out = append(out, int64(binary.LittleEndian.Uint64([]byte(packed[:8]))))
	}
	return out
}

func (c *tailCache) put(k tailKey, t *tail) {
	if len(t.evs) > c.limit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.key == k {
			return
		}
	}
	c.entries = append(c.entries, tailEntry{k, t})
	c.events += len(t.evs)
	for len(c.entries) > tailCacheEntries || c.events > c.limit {
		c.events -= len(c.entries[0].t.evs)
		c.entries = c.entries[1:]
	}
}
