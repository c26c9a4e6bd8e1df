package stats

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// uidCache remembers the ids the rollups gave users, so that a query
// merging a tail into the rollups need not look up users it met before:
// an id never changes once given (rollup_users rows are never renumbered
// or removed) in one database. Entries are keyed by the database's
// instance id (eventfn_meta.archive_instance, made when the schema is), so
// a database dropped and made again (make reset) shares nothing with the
// one before. Bounded by forgetting its older half. Safe for concurrent
// use; one per process, shared by every stats function it serves.
type uidCache struct {
	mu       sync.Mutex
	cur, old map[uidKey]uint32
	limit    int
}

type uidKey struct {
	instance, project, subject string
}

// knownUsers is the process's cache.
var knownUsers = &uidCache{limit: 1 << 18}

func (c *uidCache) get(k uidKey) (uint32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if uid, ok := c.cur[k]; ok {
		return uid, true
	}
	uid, ok := c.old[k]
	return uid, ok
}

func (c *uidCache) put(k uidKey, uid uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || len(c.cur) >= c.limit {
		c.old, c.cur = c.cur, make(map[uidKey]uint32, 1024)
	}
	c.cur[k] = uid
}

// instanceID returns the database's instance id.
func instanceID(ctx context.Context, tx pgx.Tx) (string, error) {
	var id string
	if err := tx.QueryRow(ctx, `SELECT id FROM eventfn_meta.archive_instance`).Scan(&id); err != nil {
		return "", fmt.Errorf("database instance: %w", err)
	}
	return id, nil
}
