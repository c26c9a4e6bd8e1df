package stats

import (
	"slices"
	"sync"

	"github.com/eventfn/eventfn/shared/rollup"
)

// probeCache keeps what probes of rollup_user_days answered, so that a
// tail merged into the rollups again and again (every query while the
// rollups are behind reads the whole tail) asks only about what changed:
//   - a stored active day found stays stored: rows of rollup_user_days are
//     never removed, and a rebuild makes the same rows again from the
//     columns. It is kept with the count of changes of the rollups
//     (rollup_version) its query's snapshot saw, and answers only queries
//     that see that count or a later one: an older snapshot, whose tail
//     still holds the event that stored it, must not count it as stored;
//   - no stored day in a range holds only while the rollups do not change:
//     such answers are kept with the count of changes (rollup_version) the
//     query's snapshot saw, and dropped when a query sees another.
//
// Keyed by the database's instance id, project and zone. Bounded by
// forgetting everything at a size: forgetting costs only probes. Safe for
// concurrent use; one per process.
type probeCache struct {
	mu     sync.Mutex
	scopes map[probeScope]*probeAnswers
	size   int
	limit  int
}

type probeScope struct {
	instance, project, tz string
}

type probeAnswers struct {
	// found are stored active days met, per user and type.
	found map[userType][]foundDay
	// absent are probes answered false in version.
	absent  map[probe]struct{}
	version int64
}

type userType struct{ uid, typeID uint32 }

// foundDay is a stored active day, and the first version it was seen in.
type foundDay struct {
	day     rollup.Day
	version int64
}

// knownProbes is the process's cache: about 50 MB when full.
var knownProbes = &probeCache{limit: 1 << 20}

// answer returns what the cache knows of probes in scope as seen at
// version: 1 stored, -1 not stored, 0 unknown.
func (c *probeCache) answer(s probeScope, version int64, probes []probe) []int8 {
	out := make([]int8, len(probes))
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.scopes[s]
	if a == nil {
		return out
	}
	if a.version != version {
		// Another snapshot: what it had not stored may be stored now.
		c.size -= len(a.absent)
		a.absent, a.version = map[probe]struct{}{}, version
	}
	for i, p := range probes {
		if slices.ContainsFunc(a.found[userType{p.uid, p.typeID}], func(f foundDay) bool {
			return f.day >= p.lo && f.day <= p.hi && f.version <= version
		}) {
			out[i] = 1
		} else if _, ok := a.absent[p]; ok {
			out[i] = -1
		}
	}
	return out
}

// learn keeps the answers of probes read at version: found[i] is a stored
// day in probes[i]'s range, or rollup.NoDay for none.
func (c *probeCache) learn(s probeScope, version int64, probes []probe, found []rollup.Day) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size+len(probes) > c.limit {
		c.scopes, c.size = nil, 0
	}
	if c.scopes == nil {
		c.scopes = map[probeScope]*probeAnswers{}
	}
	a := c.scopes[s]
	if a == nil {
		a = &probeAnswers{found: map[userType][]foundDay{}, absent: map[probe]struct{}{}, version: version}
		c.scopes[s] = a
	}
	for i, p := range probes {
		if found[i] != rollup.NoDay {
			k := userType{p.uid, p.typeID}
			at := slices.IndexFunc(a.found[k], func(f foundDay) bool { return f.day == found[i] })
			if at < 0 {
				a.found[k] = append(a.found[k], foundDay{found[i], version})
				c.size++
			} else if version < a.found[k][at].version {
				a.found[k][at].version = version
			}
		} else if a.version == version {
			a.absent[p] = struct{}{}
			c.size++
		}
	}
}
