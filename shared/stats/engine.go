package stats

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventfn/eventfn/shared/rollup"
)

// Paths a query can take, as reported in the X-Stats-Path header and the
// metrics.
const (
	pathRollup  = "rollup"
	pathColumns = "columns"
	// pathRollupTail is the rollups, with the buckets the feed holds events
	// of counted from the columns and the feed.
	pathRollupTail = "rollup+tail"
)

// engine answers validated queries from one PostgreSQL database.
type engine struct {
	pool *pgxpool.Pool
	// columnsOnly turns the rollup path off (tests compare both paths).
	columnsOnly bool
}

// read runs fn in a read-only transaction with one snapshot, so that a
// query reading several tables sees one state of them.
func (e *engine) read(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, e.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// zoneRolledUp reports whether q's zone has calendar rollups.
func (e *engine) zoneRolledUp(ctx context.Context, tx pgx.Tx, q *Query) (bool, error) {
	if e.columnsOnly {
		return false, nil
	}
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM eventfn_meta.rollup_timezones WHERE tz = $1)`, q.TZ).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("rollup zones: %w", err)
	}
	return ok, nil
}

// typeIDs returns the ids of the project's types among names; types no
// event ever had are left out.
func typeIDs(ctx context.Context, tx pgx.Tx, project string, names []string) ([]uint32, map[string]uint32, error) {
	m, err := rollup.LookupNames(ctx, tx, project, rollup.NameType, names)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]uint32, 0, len(m))
	for _, id := range m {
		ids = append(ids, id)
	}
	return ids, m, nil
}

// baseSelection resolves q's source and property filters; types are the
// caller's. ok is false when a filter names something no event has, so
// that nothing can match.
func baseSelection(ctx context.Context, tx pgx.Tx, q *Query) (sel selection, ok bool, err error) {
	sel.project = q.Project
	if q.Source != "" {
		m, err := rollup.LookupNames(ctx, tx, q.Project, rollup.NameSource, []string{q.Source})
		if err != nil {
			return sel, false, err
		}
		id, found := m[q.Source]
		if !found {
			return sel, false, nil
		}
		sel.source, sel.hasSource = id, true
	}
	for _, p := range q.Props {
		ids, err := rollup.LookupProps(ctx, tx, q.Project, rollup.FilterValues(p.Key, p.Value))
		if err != nil {
			return sel, false, err
		}
		if len(ids) == 0 {
			return sel, false, nil
		}
		sel.props = append(sel.props, ids)
	}
	// Once per query, for every scan of it (the column cache's key).
	if sel.instance, err = instanceID(ctx, tx); err != nil {
		return sel, false, err
	}
	return sel, true, nil
}

// window is q's range as instants and the UTC days that hold it.
type window struct {
	start, end     int64 // unix seconds: [start, end)
	dayLo, dayHi   rollup.Day
	first, lastEnd rollup.Day // local days: first bucket's first day, day after the last bucket
}

func windowOf(q *Query) window {
	w := window{first: q.First(), lastEnd: q.End()}
	w.start, w.end = w.first.Start(q.Loc).Unix(), w.lastEnd.Start(q.Loc).Unix()
	w.dayLo = rollup.Day(floorDiv(w.start, 86400))
	w.dayHi = rollup.Day(floorDiv(w.end-1, 86400))
	return w
}

// bucketIndex maps event times to the index of their bucket in the
// window, one UTC day (one rollup_cols row) at a time.
type bucketIndex struct {
	first rollup.Day
	of    []int32
	loc   *time.Location
	rows  map[rollup.Day]*rowBuckets
}

func newBucketIndex(q *Query, buckets []rollup.Day) *bucketIndex {
	w := windowOf(q)
	bi := &bucketIndex{first: w.first, of: make([]int32, w.lastEnd-w.first), loc: q.Loc, rows: map[rollup.Day]*rowBuckets{}}
	for i, b := range buckets {
		for d := b; d < q.Interval.Next(b); d++ {
			bi.of[d-w.first] = int32(i)
		}
	}
	return bi
}

// rowBuckets tells the bucket of each second of one UTC day: from from[j]
// on, bucket[j] (-1: outside the window). A UTC day spans one to three
// local days.
type rowBuckets struct {
	from   []uint32
	bucket []int
}

// row returns the buckets of the UTC day utc.
func (bi *bucketIndex) row(utc rollup.Day) *rowBuckets {
	if r, ok := bi.rows[utc]; ok {
		return r
	}
	r := &rowBuckets{}
	for _, c := range rollup.DayCuts(utc, bi.loc) {
		b := -1
		if off := int(c.Day - bi.first); off >= 0 && off < len(bi.of) {
			b = int(bi.of[off])
		}
		r.from, r.bucket = append(r.from, c.From), append(r.bucket, b)
	}
	bi.rows[utc] = r
	return r
}

// single returns the bucket of every second of the day when it is one.
func (r *rowBuckets) single() (int, bool) {
	for _, b := range r.bucket[1:] {
		if b != r.bucket[0] {
			return 0, false
		}
	}
	return r.bucket[0], true
}

// at returns the bucket of second sec.
func (r *rowBuckets) at(sec uint32) int {
	b := r.bucket[0]
	for j := 1; j < len(r.from) && sec >= r.from[j]; j++ {
		b = r.bucket[j]
	}
	return b
}

// daysWhole reports whether every UTC day of the window lies in one
// bucket (or wholly outside), so that scans need no seconds: true in UTC,
// and for weeks and months whose boundaries fall on UTC midnights.
func (bi *bucketIndex) daysWhole(w window) bool {
	for d := w.dayLo; d <= w.dayHi; d++ {
		if _, whole := bi.row(d).single(); !whole {
			return false
		}
	}
	return true
}

// bucket returns the bucket of an instant (unix seconds), or -1.
func (bi *bucketIndex) bucket(t int64) int {
	d, sec := splitSecs(t)
	return bi.row(d).at(sec)
}

// maxUID returns the largest user id of the project (0 when none).
func maxUID(ctx context.Context, tx pgx.Tx, project string) (uint32, error) {
	var next int32
	err := tx.QueryRow(ctx, `SELECT coalesce((SELECT next_uid FROM rollup_projects WHERE project = $1), 1)`, project).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("user ids: %w", err)
	}
	return uint32(max(next-1, 0)), nil
}

// noDay is the earliest day a scan of all history starts from.
const noDay = rollup.Day(math.MinInt32 + 1)

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// secsOf returns the unix time of second sec of UTC day d.
func secsOf(d rollup.Day, sec uint32) int64 { return int64(d)*86400 + int64(sec) }

// splitSecs is the inverse of secsOf.
func splitSecs(t int64) (rollup.Day, uint32) {
	d := floorDiv(t, 86400)
	return rollup.Day(d), uint32(t - d*86400)
}
