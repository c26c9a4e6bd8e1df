package stats

import (
	"context"
	"math"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/rollup"
)

// firstSeenCache keeps what firstSeen read from rollup_users: for every
// stored user, its first event when that is at or after a window's start.
// rollup_users gains a user, and a user's first event moves back, only in
// transactions that change the rollups' version (rollup.Version), so a
// read holds for every query that sees the same version, and a dashboard's
// retention charts refreshing while the rollups stand still read it once:
// the read was a third of a retention query over a backlog. After a
// materialization step a read of an earlier version is brought forward
// from what the steps logged (rollup.FirstSeenSince) instead: reading
// every user again was half of the first retention query after each step
// on 10 M events. Bounded in users kept; a read larger than the bound is
// not kept. Safe for concurrent use; one per process.
type firstSeenCache struct {
	mu      sync.Mutex
	entries []*firstSeenEntry // least recently used first
	users   int
	limit   int
	// read counts the reads of rollup_users, brought those made from an
	// earlier read and the log.
	read, brought int
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
	// firsts[uid], for every id up to key.stored: the user's first event
	// (unix seconds) when at or after key.start, else beganBefore.
	firsts []int64
}

// beganBefore marks a user whose first event is before the window; as the
// lowest value, the earlier of it and any time is itself.
const beganBefore = math.MinInt64

// firstSeenEntries bounds the reads kept, whatever their size: a few
// windows asked at once, in one or two versions.
const firstSeenEntries = 8

// firstSeenUsers is the process's cache: 8 bytes a user, so about 16 MB
// at most.
var firstSeenUsers = &firstSeenCache{limit: 2_000_000}

// get returns the read of k, or nil; else base is the latest read of an
// earlier version of the same window that k's may be brought from.
func (c *firstSeenCache) get(k firstSeenKey) (e, base *firstSeenEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, have := range c.entries {
		if have.key == k {
			c.entries = append(append(c.entries[:i:i], c.entries[i+1:]...), have)
			return have, nil
		}
		b := have.key
		if b.instance == k.instance && b.project == k.project && b.start == k.start &&
			b.version < k.version && b.stored <= k.stored && (base == nil || b.version > base.key.version) {
			base = have
		}
	}
	return nil, base
}

// put keeps e; callers must not change it afterwards. brought tells how
// it was made, for the counters.
func (c *firstSeenCache) put(e *firstSeenEntry, brought bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if brought {
		c.brought++
	} else {
		c.read++
	}
	if len(e.firsts) > c.limit {
		return
	}
	for _, have := range c.entries {
		if have.key == e.key {
			return
		}
	}
	c.entries = append(c.entries, e)
	c.users += len(e.firsts)
	for len(c.entries) > firstSeenEntries || c.users > c.limit {
		c.users -= len(c.entries[0].firsts)
		c.entries = c.entries[1:]
	}
}

// bringForward makes k's read from base's and what the steps since logged,
// or returns nil when the log does not cover every version between them.
func bringForward(ctx context.Context, tx pgx.Tx, base *firstSeenEntry, k firstSeenKey) (*firstSeenEntry, error) {
	uids, times, complete, err := rollup.FirstSeenSince(ctx, tx, k.project, base.key.version, k.version)
	if err != nil || !complete {
		return nil, err
	}
	firsts := make([]int64, int(k.stored)+1)
	copy(firsts, base.firsts)
	// Users new since base all come in the log; one that does not makes
	// the read start over.
	for i := len(base.firsts); i < len(firsts); i++ {
		firsts[i] = math.MaxInt64
	}
	for i, uid := range uids {
		if uid > 0 && uint32(uid) <= k.stored { // else not in the snapshot maxUID read
			firsts[uid] = min(firsts[uid], times[i].Unix())
		}
	}
	for uid := 1; uid < len(firsts); uid++ {
		switch t := firsts[uid]; {
		case t == math.MaxInt64:
			return nil, nil
		case t < k.start:
			firsts[uid] = beganBefore
		}
	}
	return &firstSeenEntry{key: k, firsts: firsts}, nil
}
