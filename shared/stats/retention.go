package stats

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/rollup"
)

// RetentionResult is the body of a stats-retention answer.
type RetentionResult struct {
	Interval string   `json:"interval"`
	Cohorts  []Cohort `json:"cohorts"`
}

// Cohort is the users whose first-ever matching event is in one bucket.
type Cohort struct {
	Start    string    `json:"start"`
	Size     int64     `json:"size"`
	Retained []int64   `json:"retained"`
	Rates    []float64 `json:"rates"`
}

// retention answers stats-retention. A user's cohort is the bucket of
// their first-ever event matching start_type, source and properties
// (first ever, not first in range); retained[k] counts the cohort's users
// with an event matching return_type, source and properties in bucket
// cohort+k, for k < periods and buckets up to to; retained[0] is the size.
// The rollups answer it in a rolled-up zone with none of those filters,
// with the feed's events merged in when there are few and move no cohort
// (tailmerge.go); the columns, with the feed's events, answer the rest.
func (e *engine) retention(ctx context.Context, q *Query) (res RetentionResult, path string, err error) {
	buckets := q.Buckets()
	// counts[c][k]: users of cohort c active in bucket c+k (k=0: size).
	counts := make([][]int64, len(buckets))
	for c := range counts {
		counts[c] = make([]int64, min(q.Periods, len(buckets)-c))
	}
	err = e.read(ctx, func(tx pgx.Tx) error {
		ok, err := e.zoneRolledUp(ctx, tx, q)
		if err != nil {
			return err
		}
		// A feed event of any day up to the range's end may change a
		// cohort: a user's first event may be the feed's.
		eligible := ok && q.Source == "" && len(q.Props) == 0 && q.StartType == "" && q.ReturnType == ""
		plan, err := planTail(ctx, tx, q, noDay, windowOf(q).dayHi, eligible, shapeOf("retention", q))
		if err != nil {
			return err
		}
		if eligible && plan != scanTail {
			path = pathRollup
			if err := retentionRollup(ctx, tx, q, buckets, counts); err != nil || plan == noTail {
				return err
			}
			path = pathRollupTail
			err := retentionProbe(ctx, tx, q, buckets, counts)
			if !errors.Is(err, errCohortMoves) {
				return err
			}
			for _, row := range counts {
				clear(row)
			}
		}
		path = pathColumns
		return retentionColumns(ctx, tx, q, buckets, counts, plan != noTail)
	})
	if err != nil {
		return res, path, err
	}
	res = RetentionResult{Interval: intervalName(q.Interval), Cohorts: make([]Cohort, len(buckets))}
	for c, b := range buckets {
		size := counts[c][0]
		co := Cohort{Start: b.String(), Size: size, Retained: counts[c], Rates: make([]float64, len(counts[c]))}
		for k, n := range counts[c] {
			if size > 0 {
				co.Rates[k] = float64(n) / float64(size)
			}
		}
		res.Cohorts[c] = co
	}
	return res, path, nil
}

func retentionRollup(ctx context.Context, tx pgx.Tx, q *Query, buckets []rollup.Day, counts [][]int64) error {
	index := map[rollup.Day]int{}
	for i, b := range buckets {
		index[b] = i
	}
	rows, err := tx.Query(ctx, `SELECT cohort, bucket, users FROM rollup_retention
		WHERE project = $1 AND tz = $2 AND grain = $3::text::"char" AND cohort BETWEEN $4 AND $5 AND bucket BETWEEN $4 AND $5`,
		q.Project, q.TZ, string(rune(q.Interval)), int32(q.First()), int32(q.Last()))
	if err != nil {
		return fmt.Errorf("read retention: %w", err)
	}
	var cohort, bucket int32
	var users int64
	_, err = pgx.ForEachRow(rows, []any{&cohort, &bucket, &users}, func() error {
		c, okc := index[rollup.Day(cohort)]
		b, okb := index[rollup.Day(bucket)]
		if okc && okb && b >= c && b-c < len(counts[c]) {
			counts[c][b-c] = users
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read retention: %w", err)
	}
	return nil
}

func retentionColumns(ctx context.Context, tx pgx.Tx, q *Query, buckets []rollup.Day, counts [][]int64, withTail bool) error {
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
	// The tail without its users' stored first events: which of them came
	// before the window, firstSeen says for every stored user at once
	// (one range of rollup_users' first_seen index), whereas asking per
	// tail user cost each query a lookup of every user of the feed
	// whenever a materialization step had run since the last one.
	storedTop := top
	if withTail {
		if tl, err = loadTail(ctx, tx, q, noDay, w.dayHi, top, false); err != nil {
			return err
		}
		top = tl.top
	}
	startSel, err := withType(ctx, tx, q.Project, sel, q.StartType)
	if err != nil {
		return err
	}
	returnSel, err := withType(ctx, tx, q.Project, sel, q.ReturnType)
	if err != nil {
		return err
	}
	bi := newBucketIndex(q, buckets)
	startSel.dayLo, startSel.dayHi = w.dayLo, w.dayHi
	returnSel.dayLo, returnSel.dayHi = w.dayLo, w.dayHi
	// The tail's events by the same filters, history included: a tail
	// event before the window moves its user's cohort out of it.
	tailStart := filterOf(q, typeNames(nonEmpty(q.StartType)), noDay, w.dayHi)
	tailReturn := filterOf(q, typeNames(nonEmpty(q.ReturnType)), w.dayLo, w.dayHi)

	// active[k]: the users with a return event in bucket k; those of the
	// stored events kept for the next query over the same rows when
	// nothing else is scanned with them (scanFolded), the tail's over them.
	activeIn := func(b *batch, set func(k int) userAdder) {
		rb := bi.row(b.utcDay)
		k, whole := rb.single()
		if whole && k < 0 {
			return
		}
		for i, u := range b.uids {
			if !whole {
				k = rb.at(b.secs[i])
			}
			if k >= 0 && u != 0 {
				set(k).add(u)
			}
		}
	}
	stored := newFold(len(buckets), storedTop)
	addActive := func(b *batch) { activeIn(b, func(k int) userAdder { return stored.set(k) }) }
	active := make([]*moreUsers, len(buckets))
	addTailActive := func(b *batch) {
		activeIn(b, func(k int) userAdder {
			if active[k] == nil {
				active[k] = newMoreUsers(stored.sets[k], top)
			}
			return active[k]
		})
	}
	// first[uid]: the user's first matching event in the window (unix
	// seconds, MaxInt64 for none); before: users with one before it.
	first := make([]int64, top+1)
	for i := range first {
		first[i] = math.MaxInt64
	}
	before := newUserSet(top)
	addFirst := func(b *batch) {
		for i, u := range b.uids {
			if u == 0 || int(u) >= len(first) {
				continue // ids are below next_uid in the same snapshot
			}
			switch t := secsOf(b.utcDay, b.secs[i]); {
			case t < w.start:
				before.add(u)
			case t < w.end:
				first[u] = min(first[u], t)
			}
		}
	}
	// since, when read, holds the stored users whose first event is not
	// before the window; the others began before it.
	var since *userSet
	wholeDays := bi.daysWhole(w)
	switch {
	case q.StartType == "" && q.Source == "" && len(q.Props) == 0:
		// First-ever event of any kind: rollup_users knows it, but for
		// the tail's events, which may come first.
		if since, err = firstSeen(ctx, tx, &sel, tl, w, storedTop, first); err != nil {
			return err
		}
		tl.scan(tailStart, addFirst)
		if ok {
			stored, err = scanFolded(ctx, tx, &returnSel, need{secs: !wholeDays}, shapeOf("retention", q), true,
				func() *fold { return newFold(len(buckets), storedTop) },
				func(f *fold, b *batch) { activeIn(b, func(k int) userAdder { return f.set(k) }) })
			if err != nil {
				return err
			}
		}
	case ok:
		// Who had a matching start event before the window: their cohort
		// is earlier. Only user ids are read for that part of history.
		history := startSel
		history.dayLo, history.dayHi = noDay, w.dayLo-1
		if err := scan(ctx, tx, &history, need{}, func(b *batch) { before.addAll(b.uids) }); err != nil {
			return err
		}
		if q.StartType == q.ReturnType {
			err = scan(ctx, tx, &startSel, need{secs: true}, func(b *batch) { addFirst(b); addActive(b) })
		} else if err = scan(ctx, tx, &startSel, need{secs: true}, addFirst); err == nil {
			err = scan(ctx, tx, &returnSel, need{secs: !wholeDays}, addActive)
		}
		if err != nil {
			return err
		}
		tl.scan(tailStart, addFirst)
	default:
		tl.scan(tailStart, addFirst)
	}
	tl.scan(tailReturn, addTailActive)
	// Each cohort's users, then how many of them each later bucket holds:
	// a bit set's intersection counts 64 users a word, where asking both
	// sets of every bucket about each user was most of a query whose fold
	// was kept (100 k users, 12 periods: 9 ms).
	cohorts := make([]*userSet, len(buckets))
	for uid, t := range first {
		if t == math.MaxInt64 || before.has(uint32(uid)) || (since != nil && uint32(uid) <= storedTop && !since.has(uint32(uid))) {
			continue
		}
		c := bi.bucket(t)
		if cohorts[c] == nil {
			cohorts[c] = newUserSet(top)
		}
		cohorts[c].add(uint32(uid))
	}
	for c, row := range counts {
		row[0] = int64(cohorts[c].len())
		for k := 1; k < len(row); k++ {
			// active's users are those stored's lack (moreUsers over
			// stored.sets, which no scan changes after the tail's).
			n := cohorts[c].common(stored.sets[c+k])
			if a := active[c+k]; a != nil {
				n += cohorts[c].common(a.more)
			}
			row[k] = int64(n)
		}
	}
	return nil
}

// nonEmpty is a one-name type filter, or none.
func nonEmpty(name string) []string {
	if name == "" {
		return nil
	}
	return []string{name}
}

// withType narrows sel to one type when name is set; a type no event has
// leaves an empty type list, which matches nothing.
func withType(ctx context.Context, tx pgx.Tx, project string, sel selection, name string) (selection, error) {
	if name == "" {
		return sel, nil
	}
	ids, _, err := typeIDs(ctx, tx, project, []string{name})
	if err != nil {
		return sel, err
	}
	sel.types = ids
	return sel, nil
}

// firstSeen fills first with the first-ever event of the stored users
// (ids up to stored) whose first event lies in the window, and returns
// the stored users whose first event is not before it: ids are dense from
// 1, so the others began before the window, and none of their events,
// stored or in the tail, starts a cohort of it. What it reads is kept for
// the queries that see the same rollups, and brought forward from the
// steps' log for those that see later ones (firstSeenCache); tl is the
// query's tail, or nil.
func firstSeen(ctx context.Context, tx pgx.Tx, sel *selection, tl *tail, w window, stored uint32, first []int64) (*userSet, error) {
	// The tail, when there is one, read the version in this snapshot.
	var version int64
	var err error
	if tl != nil {
		version = tl.version
	} else if version, err = rollup.Version(ctx, tx); err != nil {
		return nil, err
	}
	instance := sel.instance
	if instance == "" { // a selection that stopped early (baseSelection)
		if instance, err = instanceID(ctx, tx); err != nil {
			return nil, err
		}
	}
	key := firstSeenKey{instance: instance, project: sel.project, version: version, start: w.start, stored: stored}
	read, base := firstSeenUsers.get(key)
	if read == nil {
		if base != nil {
			if read, err = bringForward(ctx, tx, base, key); err != nil {
				return nil, err
			}
		}
		brought := read != nil
		if !brought {
			if read, err = readFirstSeen(ctx, tx, key); err != nil {
				return nil, err
			}
		}
		firstSeenUsers.put(read, brought)
	}
	since := newUserSet(stored)
	for uid, t := range read.firsts {
		if t == beganBefore {
			continue
		}
		since.add(uint32(uid))
		if t < w.end {
			first[uid] = t
		}
	}
	return since, nil
}

// readFirstSeen reads the stored users (ids up to k.stored) whose first
// event is at or after k.start.
func readFirstSeen(ctx context.Context, tx pgx.Tx, k firstSeenKey) (*firstSeenEntry, error) {
	// first_seen goes out as it is stored and is cut to whole seconds here
	// (Unix floors, as the columns do): PostgreSQL's extract(epoch) is a
	// numeric, and computing it took as long as the read of the rows.
	rows, err := tx.Query(ctx, `SELECT uid, first_seen FROM rollup_users
		WHERE project = $1 AND first_seen >= $2`, k.project, time.Unix(k.start, 0))
	if err != nil {
		return nil, fmt.Errorf("read first events: %w", err)
	}
	e := &firstSeenEntry{key: k, firsts: make([]int64, int(k.stored)+1)}
	for i := range e.firsts {
		e.firsts[i] = beganBefore
	}
	var uid int32
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&uid, &at}, func() error {
		if uid > 0 && uint32(uid) <= k.stored { // else not in the snapshot maxUID read
			e.firsts[uid] = at.Unix()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read first events: %w", err)
	}
	return e, nil
}
