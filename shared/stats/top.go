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
// rolled-up zone without source or property filters, with the feed's
// events merged in when there are few (tailmerge.go); the columns, with
// the feed's events, answer the rest.
func (e *engine) top(ctx context.Context, q *Query) (res TopResult, path string, err error) {
	counts := map[uint32]int64{}
	users := map[uint32]int64{}
	var names map[uint32]string
	err = e.read(ctx, func(tx pgx.Tx) error {
		ok, err := e.zoneRolledUp(ctx, tx, q)
		if err != nil {
			return err
		}
		w := windowOf(q)
		eligible := ok && q.Source == "" && len(q.Props) == 0
		plan, err := planTail(ctx, tx, q, w.dayLo, w.dayHi, eligible, shapeOf("top", q))
		if err != nil {
			return err
		}
		withTail := plan != noTail
		path = pathColumns
		if eligible && plan != scanTail {
			path = pathRollup
		}
		var types []uint32
		if len(q.Types) > 0 {
			if types, _, err = typeIDs(ctx, tx, q.Project, q.Types); err != nil {
				return err
			}
			if len(types) == 0 && !withTail {
				return nil
			}
		}
		var tempNames map[uint32]string
		if path == pathRollup {
			err = topRollup(ctx, tx, q, types, counts, users)
			if err == nil && withTail {
				path = pathRollupTail
				tempNames, err = topProbe(ctx, tx, q, counts, users)
			}
		} else {
			tempNames, err = topColumns(ctx, tx, q, types, counts, users, withTail)
		}
		if err != nil || len(counts) == 0 {
			return err
		}
		ids := make([]int32, 0, len(counts))
		for id := range counts {
			if id < tempIDs {
				ids = append(ids, int32(id))
			}
		}
		if names, err = rollup.NameIDs(ctx, tx, q.Project, ids); err != nil {
			return err
		}
		for id, name := range tempNames {
			names[id] = name
		}
		return nil
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
	rows, err := tx.Query(ctx, `SELECT type_id, sum(events)::bigint FROM rollup_type_days
		WHERE project = $1 AND tz = $2 AND day BETWEEN $3 AND $4`+filter+` GROUP BY type_id`, args...)
	if err != nil {
		return fmt.Errorf("read type totals: %w", err)
	}
	var id int32
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		counts[uint32(id)] = n
		return nil
	}); err != nil {
		return fmt.Errorf("read type totals: %w", err)
	}
	// A user is active in [from, to] when one of their days there has its
	// previous active day before from (see rollup_type_prevs).
	rows, err = tx.Query(ctx, `SELECT type_id, pairs FROM rollup_type_prevs
		WHERE project = $1 AND tz = $2 AND day BETWEEN $3 AND $4`+filter, args...)
	if err != nil {
		return fmt.Errorf("read type users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		v := rows.RawValues()
		users[be32(v[0])] += rollup.UsersBefore(v[1], q.From)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read type users: %w", err)
	}
	return nil
}

// topColumns counts from the columns, and the tail's events with
// withTail; it returns the names of the types only the tail has.
func topColumns(ctx context.Context, tx pgx.Tx, q *Query, types []uint32, counts, users map[uint32]int64, withTail bool) (map[uint32]string, error) {
	sel, ok, err := baseSelection(ctx, tx, q)
	if err != nil || (!ok && !withTail) {
		return nil, err
	}
	top, err := maxUID(ctx, tx, q.Project)
	if err != nil {
		return nil, err
	}
	stored := top
	w := windowOf(q)
	var tl *tail
	if withTail {
		if tl, err = loadTail(ctx, tx, q, w.dayLo, w.dayHi, top, false); err != nil {
			return nil, err
		}
		top = tl.top
	}
	sel.types, sel.dayLo, sel.dayHi = types, w.dayLo, w.dayHi
	bi := newBucketIndex(q, q.Buckets())
	// into counts b's events in the range into f, by type, and adds their
	// users to users(k), k their type's group in f. A type's events come
	// in runs (a stored row is of one type; a tail day batch holds each
	// type's together, groupByDay), so groups are looked up once a run.
	into := func(b *batch, f *fold, users func(k int) userAdder) {
		rb := bi.row(b.utcDay)
		whole, in := rb.single()
		if in && whole < 0 {
			return
		}
		k, last := -1, uint32(0)
		var set userAdder
		for i, u := range b.uids {
			if !in && rb.at(b.secs[i]) < 0 {
				continue
			}
			t := b.typeID
			if b.types != nil {
				t = b.types[i]
			}
			if k < 0 || t != last {
				k, last = f.group(t), t
				set = users(k)
			}
			f.n[k]++
			if u != 0 {
				set.add(u)
			}
		}
	}
	// The stored events by type, kept for the next query over the same
	// rows (scanFolded); then the tail's, with the users they lack. Types
	// only the tail has (ids from tempIDs up) are the tail's alone.
	f := newFold(0, stored)
	if ok {
		f, err = scanFolded(ctx, tx, &sel, need{secs: !bi.daysWhole(w), types: true}, shapeOf("top", q), false,
			func() *fold { return newFold(0, stored) },
			func(f *fold, b *batch) { into(b, f, func(k int) userAdder { return f.set(k) }) })
		if err != nil {
			return nil, err
		}
	}
	tf := newFold(0, top)
	var more []*moreUsers
	tl.scan(filterOf(q, typeNames(q.Types), w.dayLo, w.dayHi), func(b *batch) {
		into(b, tf, func(k int) userAdder {
			if k == len(more) {
				var base *userSet
				if j := f.find(tf.ids[k]); j >= 0 {
					base = f.sets[j]
				}
				more = append(more, newMoreUsers(base, top))
			}
			return more[k]
		})
	})
	for k, t := range f.ids {
		counts[t], users[t] = f.n[k], int64(f.sets[k].len())
	}
	for k, t := range tf.ids {
		counts[t] += tf.n[k]
		users[t] += int64(more[k].more.len())
	}
	if tl == nil {
		return nil, nil
	}
	return tl.names, nil
}
