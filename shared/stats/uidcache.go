package stats

import (
	"context"
	"fmt"
	"strings"
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

// storedCache keeps, per database and project, what rollup_users said of
// subjects at one version of the rollups (rollup.Version): whether the
// rollups know the subject, with its id and first event. A user's first
// event moves back, and a new user is stored, only in a transaction that
// changes the version, so an answer holds for every query that sees the
// same version; a query that sees another drops the project's answers.
// Bounded by forgetting a project's answers at a size. Safe for
// concurrent use; one per process.
type storedCache struct {
	mu     sync.Mutex
	scopes map[storedScope]*storedAnswers
	limit  int
}

type storedScope struct{ instance, project string }

type storedAnswers struct {
	version int64
	users   map[string]storedUser
}

// storedUser is what rollup_users said of a subject; seen is false when
// the cache does not know.
type storedUser struct {
	seen, stored bool
	uid          uint32
	first        int64
}

// knownStored is the process's cache.
var knownStored = &storedCache{limit: 1 << 18}

// lookup returns what the cache knows of subjects at version.
func (c *storedCache) lookup(s storedScope, version int64, subjects []string) []storedUser {
	out := make([]storedUser, len(subjects))
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.scopes[s]
	if a == nil || a.version != version {
		return out
	}
	for i, subject := range subjects {
		out[i] = a.users[subject]
	}
	return out
}

// learn keeps what rollup_users said at version of asked: found holds the
// stored ones, the others are new.
func (c *storedCache) learn(s storedScope, version int64, asked []string, found map[string]storedUser) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.scopes == nil {
		c.scopes = map[storedScope]*storedAnswers{}
	}
	a := c.scopes[s]
	if a == nil || a.version != version || len(a.users)+len(asked) > c.limit {
		if a != nil && version < a.version {
			return // an older snapshot's answers would replace newer ones
		}
		a = &storedAnswers{version: version, users: map[string]storedUser{}}
		c.scopes[s] = a
	}
	for _, subject := range asked {
		u, ok := found[subject]
		if !ok {
			u = storedUser{seen: true}
		}
		// A copy: the subject points into a whole decoded feed row.
		a.users[strings.Clone(subject)] = u
	}
}
