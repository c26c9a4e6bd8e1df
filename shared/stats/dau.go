package stats

import (
	"context"
	"fmt"

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
// property filter and at most one type, with the feed's events merged in
// when there are few (tailmerge.go); the columns, with the feed's events,
// answer the rest.
func (e *engine) dau(ctx context.Context, q *Query) (res DAUResult, path string, err error) {
	buckets := q.Buckets()
	counts := make([]int64, len(buckets))
	err = e.read(ctx, func(tx pgx.Tx) error {
		ok, err := e.zoneRolledUp(ctx, tx, q)
		if err != nil {
			return err
		}
		w := windowOf(q)
		eligible := ok && q.Source == "" && len(q.Props) == 0 && len(q.Types) <= 1
		plan, err := planTail(ctx, tx, q, w.dayLo, w.dayHi, eligible, shapeOf("dau", q))
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
		if eligible && plan != scanTail {
			path = pathRollup
			if err := dauRollup(ctx, tx, q, types, buckets, counts); err != nil || plan == noTail {
				return err
			}
			path = pathRollupTail
			return dauProbe(ctx, tx, q, firstOr(q.Types, ""), buckets, counts)
		}
		path = pathColumns
		return dauColumns(ctx, tx, q, types, buckets, counts, plan != noTail)
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

func dauColumns(ctx context.Context, tx pgx.Tx, q *Query, types []uint32, buckets []rollup.Day, counts []int64, withTail bool) error {
	sel, ok, err := baseSelection(ctx, tx, q)
	if err != nil || (!ok && !withTail) {
		return err
	}
	top, err := maxUID(ctx, tx, q.Project)
	if err != nil {
		return err
	}
	stored := top
	w := windowOf(q)
	var tl *tail
	if withTail {
		if tl, err = loadTail(ctx, tx, q, w.dayLo, w.dayHi, top, false); err != nil {
			return err
		}
		top = tl.top
	}
	sel.types, sel.dayLo, sel.dayHi = types, w.dayLo, w.dayHi
	bi := newBucketIndex(q, buckets)
	into := func(b *batch, set func(k int) userAdder) {
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
	// The stored events' users per bucket, kept for the next query over
	// the same rows (scanFolded); then the tail's users they lack.
	f := newFold(len(buckets), stored)
	if ok {
		f, err = scanFolded(ctx, tx, &sel, need{secs: !bi.daysWhole(w)}, shapeOf("dau", q), true,
			func() *fold { return newFold(len(buckets), stored) },
			func(f *fold, b *batch) { into(b, func(k int) userAdder { return f.set(k) }) })
		if err != nil {
			return err
		}
	}
	more := make([]*moreUsers, len(buckets))
	tl.scan(filterOf(q, typeNames(q.Types), w.dayLo, w.dayHi), func(b *batch) {
		into(b, func(k int) userAdder {
			if more[k] == nil {
				more[k] = newMoreUsers(f.sets[k], top)
			}
			return more[k]
		})
	})
	for i := range counts {
		counts[i] = int64(f.sets[i].len())
		if more[i] != nil {
			counts[i] += int64(more[i].more.len())
		}
	}
	return nil
}

// shapeOf names a question of fn: what a query folds from the stored
// columns besides its selection (scanFolded; the zone and the buckets),
// and its filters by name, which planTail asks the fold cache about.
func shapeOf(fn string, q *Query) string {
	return fmt.Sprintf("%s|%s|%c|%d %d|%d %d|%q %q %q %q", fn, q.TZ, q.Interval, q.From, q.To, q.First(), q.End(),
		q.Types, q.StartType, q.ReturnType, q.Source)
}

// firstOr returns names[0], or def when names is empty.
func firstOr(names []string, def string) string {
	if len(names) == 0 {
		return def
	}
	return names[0]
}

// typeNames is a type filter for the tail: nil (any type) when names is
// empty.
func typeNames(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	return names
}
