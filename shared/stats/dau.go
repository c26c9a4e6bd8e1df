package stats

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/rollup"
)

// DAUResult is the body of a stats-dau answer.
type DAUResult struct {
	Interval string     `json:"interval"`
	Series   []DAUPoint `json:"series"`
}

// DAUPoint is one bucket of a DAU series.
type DAUPoint struct {
	Start       string `json:"start"`
	ActiveUsers int64  `json:"active_users"`
}

// dau answers stats-dau: per bucket, the distinct subjects with a matching
// event in it. The rollups answer it in a rolled-up zone with no source or
// property filter and at most one type, but for the buckets the feed holds
// events of; the columns, with the feed's events, answer those buckets and
// every other query.
func (e *engine) dau(ctx context.Context, q *Query) (res DAUResult, path string, err error) {
	buckets := q.Buckets()
	counts := make([]int64, len(buckets))
	err = e.read(ctx, func(tx pgx.Tx) error {
		ok, err := e.zoneRolledUp(ctx, tx, q)
		if err != nil {
			return err
		}
		w := windowOf(q)
		spans, err := rollup.FeedSpans(ctx, tx, q.Project, w.dayLo, w.dayHi)
		if err != nil {
			return err
		}
		ids, _, err := typeIDs(ctx, tx, q.Project, q.Types)
		if err != nil {
			return err
		}
		var types []uint32
		if len(q.Types) > 0 {
			types = ids
		}
		if ok && q.Source == "" && len(q.Props) == 0 && len(q.Types) <= 1 {
			path = pathRollup
			if err := dauRollup(ctx, tx, q, types, buckets, counts); err != nil || len(spans) == 0 {
				return err
			}
			// Distinct users are counted per bucket: only the buckets the
			// feed's events fall in need the columns and the feed.
			path = pathRollupTail
			return dauDirty(ctx, tx, q, types, buckets, counts, dirtyBuckets(q, buckets, spans))
		}
		path = pathColumns
		return dauColumns(ctx, tx, q, types, buckets, counts, len(spans) > 0)
	})
	if err != nil {
		return res, path, err
	}
	res = DAUResult{Interval: intervalName(q.Interval), Series: make([]DAUPoint, len(buckets))}
	for i, b := range buckets {
		res.Series[i] = DAUPoint{Start: b.String(), ActiveUsers: counts[i]}
	}
	return res, path, nil
}

func dauRollup(ctx context.Context, tx pgx.Tx, q *Query, types []uint32, buckets []rollup.Day, counts []int64) error {
	var typeID uint32 // 0: any type
	if types != nil {
		if len(types) == 0 {
			return nil // a type no event has
		}
		typeID = types[0]
	}
	rows, err := tx.Query(ctx, `SELECT bucket, users FROM rollup_active
		WHERE project = $1 AND tz = $2 AND grain = $3::text::"char" AND type_id = $4 AND bucket BETWEEN $5 AND $6`,
		q.Project, q.TZ, string(rune(q.Interval)), int32(typeID), int32(q.First()), int32(q.Last()))
	if err != nil {
		return fmt.Errorf("read active users: %w", err)
	}
	index := map[rollup.Day]int{}
	for i, b := range buckets {
		index[b] = i
	}
	var bucket int32
	var users int64
	_, err = pgx.ForEachRow(rows, []any{&bucket, &users}, func() error {
		if i, ok := index[rollup.Day(bucket)]; ok {
			counts[i] = users
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read active users: %w", err)
	}
	return nil
}

// dauDirty answers the buckets dirty (starts, ascending) of q from the
// columns and the feed, into counts.
func dauDirty(ctx context.Context, tx pgx.Tx, q *Query, types []uint32, buckets []rollup.Day, counts []int64, dirty []rollup.Day) error {
	if len(dirty) == 0 {
		return nil
	}
	sub := *q
	sub.From, sub.To = dirty[0], q.Interval.Next(dirty[len(dirty)-1])-1
	subBuckets := sub.Buckets()
	subCounts := make([]int64, len(subBuckets))
	if err := dauColumns(ctx, tx, &sub, types, subBuckets, subCounts, true); err != nil {
		return err
	}
	at := make(map[rollup.Day]int, len(buckets))
	for i, b := range buckets {
		at[b] = i
	}
	for i, b := range subBuckets {
		if _, isDirty := slices.BinarySearch(dirty, b); isDirty {
			counts[at[b]] = subCounts[i]
		}
	}
	return nil
}

func dauColumns(ctx context.Context, tx pgx.Tx, q *Query, types []uint32, buckets []rollup.Day, counts []int64, withTail bool) error {
	sel, ok, err := baseSelection(ctx, tx, q)
	if err != nil || (!ok && !withTail) {
		return err
	}
	top, err := maxUID(ctx, tx, q.Project)
	if err != nil {
		return err
	}
	w := windowOf(q)
	var tl *tail
	if withTail {
		if tl, err = loadTail(ctx, tx, q, w.dayLo, w.dayHi, top); err != nil {
			return err
		}
		top = tl.top
	}
	sel.types, sel.dayLo, sel.dayHi = types, w.dayLo, w.dayHi
	bi := newBucketIndex(q, buckets)
	sets := make([]*userSet, len(buckets))
	set := func(k int) *userSet {
		if sets[k] == nil {
			sets[k] = newUserSet(top)
		}
		return sets[k]
	}
	add := func(b *batch) {
		rb := bi.row(b.utcDay)
		if k, whole := rb.single(); whole {
			if k >= 0 {
				set(k).addAll(b.uids)
			}
			return
		}
		for i, u := range b.uids {
			if k := rb.at(b.secs[i]); k >= 0 && u != 0 {
				set(k).add(u)
			}
		}
	}
	if ok {
		if err := scan(ctx, tx, &sel, need{secs: !bi.daysWhole(w)}, add); err != nil {
			return err
		}
	}
	tl.scan(filterOf(q, typeNames(q.Types), w.dayLo, w.dayHi), add)
	for i, s := range sets {
		counts[i] = int64(s.len())
	}
	return nil
}

// typeNames is a type filter for the tail: nil (any type) when names is
// empty.
func typeNames(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	return names
}
