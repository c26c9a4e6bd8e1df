package stats

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/rollup"
)

// colRow is one row of rollup_cols as stored: its columns are the
// little-endian arrays the materializer wrote (scan.go reads them). Only
// the columns in have were read: a query reads the columns it uses (an
// unfiltered one, the user ids alone: 4 bytes an event of the 12 a type
// row holds), so that the cache keeps three times the events for it.
type colRow struct {
	key                              int64
	day                              rollup.Day
	chunk                            int64
	have                             colSet
	uids, secs, sources, types, ords []byte
}

// colSet is a set of rollup_cols' array columns.
type colSet uint8

const (
	colUIDs colSet = 1 << iota
	colSecs
	colSources
	colTypes
	colOrds
)

// colNames are the columns of a colSet, in its bits' order.
var colNames = []string{"uids", "secs", "sources", "types", "ords"}

// field returns r's field of column bit i (colNames[i]).
func (r *colRow) field(i int) *[]byte {
	switch i {
	case 0:
		return &r.uids
	case 1:
		return &r.secs
	case 2:
		return &r.sources
	case 3:
		return &r.types
	}
	return &r.ords
}

func (r *colRow) size() int {
	return len(r.uids) + len(r.secs) + len(r.sources) + len(r.types) + len(r.ords) + 160
}

// colCache keeps rows of rollup_cols, so that a query over the columns
// reads from PostgreSQL only the list of rows its snapshot holds and the
// contents of those it has not met: while the rollups are behind, every
// query reads the columns of every day the feed touches, and sending them
// again each time took as much of PostgreSQL as the materializer's
// slowest statement (a sustained scattered load; docs/performance.md).
// A row never changes once written: the materializer adds chunks under new
// ids of a sequence, and compaction replaces chunks by new ones. So an
// entry keyed by the database's instance id, the row's kind, key and chunk
// is never stale, and the listing in the query's own snapshot says which
// rows count. Bounded by bytes held; when full, entries the map's order
// picks go first. Safe for concurrent use; one per process.
type colCache struct {
	mu    sync.Mutex
	rows  map[colKey]*colRow
	bytes int
	limit int
	// fetched counts the rows read from PostgreSQL (tests).
	fetched int
}

type colKey struct {
	instance   string
	kind       byte
	key, chunk int64
}

// storedColumns is the process's cache: 64 MB holds the columns of about
// five million events, beside the feed and tail caches (tens of MB each).
var storedColumns = &colCache{limit: 64 << 20}

// colKinds are the kinds of rollup_cols rows, as SQL literals.
var colKinds = map[byte]string{'t': `'t'`, 'p': `'p'`}

// read returns project's rows of rollup_cols of kind with one of keys
// (every key when keys is nil) of UTC days [lo, hi], as tx's snapshot holds
// them, in ascending day order, with at least the columns cols; instance
// is the database's instance id.
func (c *colCache) read(ctx context.Context, tx pgx.Tx, instance, project string, kind byte, keys []int64, lo, hi rollup.Day, cols colSet) ([]*colRow, error) {
	l, err := c.list(ctx, tx, instance, project, kind, keys, lo, hi)
	if err != nil {
		return nil, err
	}
	return c.fetch(ctx, tx, l, cols)
}

// colListing is which rows of rollup_cols a snapshot holds for one read,
// in ascending day order.
type colListing struct {
	instance, project string
	kind              byte
	keys              []colKey
	days              []rollup.Day
	// where and args select the listed rows again (fetch); where is
	// empty for a part of a listing (only).
	where string
	args  []any
}

// list reads which rows read would return, without their columns.
func (c *colCache) list(ctx context.Context, tx pgx.Tx, instance, project string, kind byte, keys []int64, lo, hi rollup.Day) (*colListing, error) {
	l := &colListing{instance: instance, project: project, kind: kind,
		where: `project = $1 AND kind = ` + colKinds[kind] + ` AND day BETWEEN $2 AND $3`,
		args:  []any{project, int32(lo), int32(hi)}}
	if keys != nil {
		l.where += ` AND key = ANY($4)`
		l.args = append(l.args, keys)
	}
	rows, err := tx.Query(ctx, `SELECT key, day, chunk FROM rollup_cols WHERE `+l.where+` ORDER BY day`, l.args...)
	if err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	for rows.Next() {
		v := rows.RawValues()
		l.keys = append(l.keys, colKey{instance, kind, int64(be64(v[0])), int64(be64(v[2]))})
		l.days = append(l.days, rollup.Day(be32(v[1])))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	return l, nil
}

// only returns the part of l at indexes is.
func (l *colListing) only(is []int) *colListing {
	part := &colListing{instance: l.instance, project: l.project, kind: l.kind,
		keys: make([]colKey, len(is)), days: make([]rollup.Day, len(is))}
	for j, i := range is {
		part.keys[j], part.days[j] = l.keys[i], l.days[i]
	}
	return part
}

// fetch returns the rows of l with at least the columns cols, from the
// cache where it holds them.
func (c *colCache) fetch(ctx context.Context, tx pgx.Tx, l *colListing, cols colSet) ([]*colRow, error) {
	listed, days, instance, project, kind, where, args := l.keys, l.days, l.instance, l.project, l.kind, l.where, l.args
	var rows pgx.Rows
	var err error
	out := make([]*colRow, len(listed))
	missing := 0
	c.mu.Lock()
	for i, k := range listed {
		if r := c.rows[k]; r != nil && r.have&cols == cols {
			out[i] = r
		} else {
			missing++
		}
	}
	c.mu.Unlock()
	if missing == 0 {
		return out, nil
	}
	// Most rows missing (a cold cache): the range at once, as the listing
	// read it; a few: those by their keys.
	sel := `SELECT key, day, chunk`
	for i, name := range colNames {
		if cols&(1<<i) != 0 {
			sel += ", " + name
		}
	}
	sel += ` FROM rollup_cols WHERE `
	if missing > len(listed)/2 && where != "" {
		rows, err = tx.Query(ctx, sel+where, args...)
	} else {
		ks, ds, cs := make([]int64, 0, missing), make([]int32, 0, missing), make([]int64, 0, missing)
		for i, r := range out {
			if r == nil {
				ks, ds, cs = append(ks, listed[i].key), append(ds, int32(days[i])), append(cs, listed[i].chunk)
			}
		}
		rows, err = tx.Query(ctx, sel+`project = $1 AND kind = `+colKinds[kind]+`
			AND (key, day, chunk) IN (SELECT * FROM unnest($2::bigint[], $3::int[], $4::bigint[]))`, project, ks, ds, cs)
	}
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	read := make(map[colKey]*colRow, missing)
	for rows.Next() {
		v := rows.RawValues()
		// RawValues are the connection's buffer: copied, into one
		// allocation per row.
		n := 0
		for _, b := range v[3:] {
			n += len(b)
		}
		buf := make([]byte, 0, n)
		col := func(b []byte) []byte {
			buf = append(buf, b...)
			return buf[len(buf)-len(b) : len(buf) : len(buf)]
		}
		r := &colRow{key: int64(be64(v[0])), day: rollup.Day(be32(v[1])), chunk: int64(be64(v[2])), have: cols}
		j := 3
		for i := range colNames {
			if cols&(1<<i) != 0 {
				*r.field(i) = col(v[j])
				j++
			}
		}
		read[colKey{instance, kind, r.key, r.chunk}] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetched += len(read)
	for i, k := range listed {
		if out[i] != nil {
			continue
		}
		r, ok := read[k]
		if !ok {
			// Listed and gone in the same snapshot cannot be.
			return nil, fmt.Errorf("read columns: chunk %d of key %d not found", k.chunk, k.key)
		}
		out[i] = r
		c.put(k, r)
	}
	return out, nil
}

// put keeps one row, with the columns an entry of it held already,
// making room first; c.mu is held. Entries are shared, never changed: a
// row that gains columns is a new entry.
func (c *colCache) put(k colKey, r *colRow) {
	if c.rows == nil {
		c.rows = map[colKey]*colRow{}
	}
	if old, ok := c.rows[k]; ok {
		if old.have&r.have == r.have {
			return
		}
		merged := *r
		for i := range colNames {
			if old.have&^r.have&(1<<i) != 0 {
				*merged.field(i) = *old.field(i)
			}
		}
		merged.have |= old.have
		delete(c.rows, k)
		c.bytes -= old.size()
		r = &merged
	}
	size := r.size()
	if size > c.limit/4 {
		return
	}
	if c.bytes+size > c.limit {
		// A tenth at a time, so that a full cache does not pay one
		// eviction per row.
		for old, e := range c.rows {
			delete(c.rows, old)
			c.bytes -= e.size()
			if c.bytes+size <= c.limit*9/10 {
				break
			}
		}
	}
	c.rows[k] = r
	c.bytes += size
}
