package stats

import "sync"

// firstSeenCache keeps what firstSeen read from rollup_users: the users
// whose first event is at or after a window's start, with those events.
// rollup_users gains a user, and a user's first event moves back, only in
// transactions that change the rollups' version (rollup.Version), so a
// read holds for every query that sees the same version, and a dashboard's
// retention charts refreshing while the rollups stand still (or between
// two materialization steps) read it once: the read was a third of a
// retention query over a backlog. Bounded in users kept; a read larger
// than the bound is not kept. Safe for concurrent use; one per process.
type firstSeenCache struct {
	mu      sync.Mutex
	entries []firstSeenEntry // least recently used first
	users   int
	limit   int
}

type firstSeenKey struct {
	instance, project string
	version           int64
	// start is the window's start (unix seconds); stored the highest
	// user id of the query's snapshot.
	start  int64
	stored uint32
}

type firstSeenEntry struct {
	key firstSeenKey
	// uids and firsts: each user read and the first event's unix second.
	uids   []uint32
	firsts []int64
}

// firstSeenEntries bounds the reads kept, whatever their size: a few
// windows asked at once, in one or two versions.
const firstSeenEntries = 8

// firstSeenUsers is the process's cache: some 12 bytes a user, so about
// 24 MB at most.
var firstSeenUsers = &firstSeenCache{limit: 2_000_000}

func (c *firstSeenCache) get(k firstSeenKey) (*firstSeenEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.entries {
		if e.key == k {
			c.entries = append(append(c.entries[:i:i], c.entries[i+1:]...), e)
			return &e, true
		}
	}
	return nil, false
}

// put keeps e; callers must not change it afterwards.
func (c *firstSeenCache) put(e firstSeenEntry) {
	if len(e.uids) > c.limit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, have := range c.entries {
		if have.key == e.key {
			return
		}
	}
	c.entries = append(c.entries, e)
	c.users += len(e.uids)
	for len(c.entries) > firstSeenEntries || c.users > c.limit {
		c.users -= len(c.entries[0].uids)
		c.entries = c.entries[1:]
	}
}
