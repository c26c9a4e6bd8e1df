package stats

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/serve"
)

// NewColumnsOnly builds the named stats function with the rollup path
// turned off, so tests can hold both paths to the same answers.
func NewColumnsOnly(ctx context.Context, name string, cfg Config, deps serve.Deps) (*serve.Function, error) {
	k := map[string]kind{"stats-dau": kindDAU, "stats-top": kindTop, "stats-retention": kindRetention}[name]
	return build(ctx, k, cfg, deps, true)
}

// ColumnCache is a cache of rollup_cols rows like the process's own.
type ColumnCache struct{ c *colCache }

// NewColumnCache returns an empty cache holding up to limit bytes.
func NewColumnCache(limit int) *ColumnCache { return &ColumnCache{&colCache{limit: limit}} }

// ColumnRow is a row of rollup_cols as the cache gives it.
type ColumnRow struct {
	Key                              int64
	Day                              rollup.Day
	Chunk                            int64
	Uids, Secs, Sources, Types, Ords []byte
}

// Read returns the project's rows of kind ('t' or 'p') of UTC days
// [lo, hi], as a query's scan reads them, every column read.
func (c *ColumnCache) Read(ctx context.Context, tx pgx.Tx, project string, kind byte, lo, hi rollup.Day) ([]ColumnRow, error) {
	return c.ReadColumns(ctx, tx, project, kind, lo, hi, colNames...)
}

// ReadColumns is Read asking for the named columns only ("uids", "secs",
// "sources", "types", "ords"): a row may hold more, read before.
func (c *ColumnCache) ReadColumns(ctx context.Context, tx pgx.Tx, project string, kind byte, lo, hi rollup.Day, names ...string) ([]ColumnRow, error) {
	var cols colSet
	for _, name := range names {
		cols |= 1 << slices.Index(colNames, name)
	}
	instance, err := instanceID(ctx, tx)
	if err != nil {
		return nil, err
	}
	rows, err := c.c.read(ctx, tx, instance, project, kind, nil, lo, hi, cols)
	out := make([]ColumnRow, len(rows))
	for i, r := range rows {
		out[i] = ColumnRow{r.key, r.day, r.chunk, r.uids, r.secs, r.sources, r.types, r.ords}
	}
	return out, err
}

// Fetched is how many rows the cache read from PostgreSQL; Bytes what it
// holds.
func (c *ColumnCache) Fetched() int { c.c.mu.Lock(); defer c.c.mu.Unlock(); return c.c.fetched }
func (c *ColumnCache) Bytes() int   { c.c.mu.Lock(); defer c.c.mu.Unlock(); return c.c.bytes }

// FoldsMade is how many folds of the stored columns the process's
// queries built (foldCache), kept or not.
func FoldsMade() (made, extended int) {
	storedFolds.mu.Lock()
	defer storedFolds.mu.Unlock()
	return storedFolds.made, storedFolds.extended
}

// SetProbeLimit sets the most tail events merged into the rollups by
// probing (probeLimit) until the returned func restores it. Only for
// tests that are not parallel: parallel ones start after they end.
func SetProbeLimit(n int) (restore func()) {
	old := probeLimit
	probeLimit = n
	return func() { probeLimit = old }
}

// FirstSeenReads is how many times the process's retention queries read
// the users' first events (firstSeenCache), and how many times they
// brought an earlier read forward from the steps' log instead.
func FirstSeenReads() (read, brought int) {
	firstSeenUsers.mu.Lock()
	defer firstSeenUsers.mu.Unlock()
	return firstSeenUsers.read, firstSeenUsers.brought
}
