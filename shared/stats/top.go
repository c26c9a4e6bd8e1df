package stats

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/rollup"
)

// TopResult is the body of a stats-top answer.
type TopResult struct {
	Events []TopEvent `json:"events"`
}

// TopEvent is one event type's totals over the range.
type TopEvent struct {
	Type  string `json:"type"`
	Count int64  `json:"count"`
	Users int64  `json:"users"`
}

// top answers stats-top: per type, the matching events (anonymous ones
// included) and their distinct subjects, ordered by count descending then
// type ascending (byte order), at most q.Limit. The rollups answer it in a
// rolled-up zone without source or property filters; the columns answer
// the rest.
func (e *engine) top(ctx context.Context, q *Query) (res TopResult, path string, err error) {
	counts := map[uint32]int64{}
	users := map[uint32]int64{}
	var names map[uint32]string
	err = e.read(ctx, func(tx pgx.Tx) error {
		ok, err := e.zoneRolledUp(ctx, tx, q)
		if err != nil {
			return err
		}
		path = pathColumns
		if ok && q.Source == "" && len(q.Props) == 0 {
			path = pathRollup
		}
		var types []uint32
		if len(q.Types) > 0 {
			if types, _, err = typeIDs(ctx, tx, q.Project, q.Types); err != nil {
				return err
			}
			if len(types) == 0 {
				return nil
			}
		}
		if path == pathRollup {
			err = topRollup(ctx, tx, q, types, counts, users)
		} else {
			err = topColumns(ctx, tx, q, types, counts, users)
		}
		if err != nil || len(counts) == 0 {
			return err
		}
		ids := make([]int32, 0, len(counts))
		for id := range counts {
			ids = append(ids, int32(id))
		}
		names, err = rollup.NameIDs(ctx, tx, q.Project, ids)
		return err
	})
	if err != nil {
		return res, path, err
	}
	res.Events = make([]TopEvent, 0, len(counts))
	for id, n := range counts {
		if n > 0 {
			res.Events = append(res.Events, TopEvent{Type: names[id], Count: n, Users: users[id]})
		}
	}
	sort.Slice(res.Events, func(a, b int) bool {
		ea, eb := res.Events[a], res.Events[b]
		if ea.Count != eb.Count {
			return ea.Count > eb.Count
		}
		return ea.Type < eb.Type
	})
	if len(res.Events) > q.Limit {
		res.Events = res.Events[:q.Limit]
	}
	return res, path, nil
}

func topRollup(ctx context.Context, tx pgx.Tx, q *Query, types []uint32, counts, users map[uint32]int64) error {
	filter, args := "", []any{q.Project, q.TZ, int32(q.From), int32(q.To)}
	if types != nil {
		ids := make([]int32, len(types))
		for i, t := range types {
			ids[i] = int32(t)
		}
		filter, args = " AND type_id = ANY($5)", append(args, ids)
	}
	for _, part := range []struct {
		sql string
		to  map[uint32]int64
	}{
		{`SELECT type_id, sum(events)::bigint FROM rollup_type_days
			WHERE project = $1 AND tz = $2 AND day BETWEEN $3 AND $4` + filter + ` GROUP BY type_id`, counts},
		// A user is active in [from, to] when one of their days there has
		// its previous active day before from (see rollup_type_gaps).
		{`SELECT type_id, sum(users)::bigint FROM rollup_type_gaps
			WHERE project = $1 AND tz = $2 AND day BETWEEN $3 AND $4 AND prev < $3` + filter + ` GROUP BY type_id`, users},
	} {
		rows, err := tx.Query(ctx, part.sql, args...)
		if err != nil {
			return fmt.Errorf("read type totals: %w", err)
		}
		var id int32
		var n int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error {
			part.to[uint32(id)] = n
			return nil
		}); err != nil {
			return fmt.Errorf("read type totals: %w", err)
		}
	}
	return nil
}

func topColumns(ctx context.Context, tx pgx.Tx, q *Query, types []uint32, counts, users map[uint32]int64) error {
	sel, ok, err := baseSelection(ctx, tx, q)
	if err != nil || !ok {
		return err
	}
	top, err := maxUID(ctx, tx, q.Project)
	if err != nil {
		return err
	}
	w := windowOf(q)
	sel.types, sel.dayLo, sel.dayHi = types, w.dayLo, w.dayHi
	bi := newBucketIndex(q, q.Buckets())
	sets := map[uint32]*userSet{}
	// The last type seen, to skip map lookups within a row.
	lastType, lastSet := uint32(0), (*userSet)(nil)
	err = scan(ctx, tx, &sel, func(el element) {
		if bi.bucket(el.utcDay, el.sec) < 0 {
			return
		}
		counts[el.typeID]++
		if el.uid == 0 {
			return
		}
		if lastSet == nil || el.typeID != lastType {
			lastType, lastSet = el.typeID, sets[el.typeID]
			if lastSet == nil {
				lastSet = newUserSet(top)
				sets[el.typeID] = lastSet
			}
		}
		lastSet.add(el.uid)
	})
	for id, s := range sets {
		users[id] = int64(s.len())
	}
	return err
}
