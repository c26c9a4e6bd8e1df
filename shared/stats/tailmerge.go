package stats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/rollup"
)

// Merging a short tail into the rollups' answer: the rollups count every
// materialized event, and the tail's events are the rest. An event adds to
// a count of events always; to a count of distinct users only when its user
// is new to the rollups, or has no stored active day (of its type, or any
// type) in the bucket or range the count is of, which one probe of
// rollup_user_days per (user, type, bucket) tells. Users the tail holds
// more than once are counted once.

// errCohortMoves is returned when the tail holds a user's event before the
// first one the rollups know: the user's cohort moves, which probes do not
// follow; the columns answer instead.
var errCohortMoves = errors.New("a tail event moves a cohort")

// probe asks whether a user has a stored active day of a type in [lo, hi].
type probe struct {
	uid    uint32
	typeID uint32
	lo, hi rollup.Day
}

// storedActive answers probes in zone tz: what the process's cache
// (knownProbes) knows, and the rest in one query.
func storedActive(ctx context.Context, tx pgx.Tx, q *Query, tl *tail, probes []probe) ([]bool, error) {
	out := make([]bool, len(probes))
	if len(probes) == 0 {
		return out, nil
	}
	version := tl.version
	scope := probeScope{tl.instance, q.Project, q.TZ}
	known := knownProbes.answer(scope, version, probes)
	var ask []probe
	var at []int
	for i, k := range known {
		out[i] = k > 0
		if k == 0 {
			ask = append(ask, probes[i])
			at = append(at, i)
		}
	}
	if len(ask) == 0 {
		return out, nil
	}
	uids, types, los, his := make([]int32, len(ask)), make([]int32, len(ask)), make([]int32, len(ask)), make([]int32, len(ask))
	for i, p := range ask {
		uids[i], types[i], los[i], his[i] = int32(p.uid), int32(p.typeID), int32(p.lo), int32(p.hi)
	}
	// One index probe per row (LATERAL ... LIMIT 1), whatever the planner
	// thinks of the table's size: statistics lag a table that grows fast.
	rows, err := tx.Query(ctx, `SELECT x.i, y.day FROM unnest($3::int[], $4::int[], $5::int[], $6::int[]) WITH ORDINALITY AS x(uid, t, lo, hi, i)
		CROSS JOIN LATERAL (SELECT d.day FROM rollup_user_days d WHERE d.project = $1 AND d.tz = $2
			AND d.uid = x.uid AND d.type_id = x.t AND d.day BETWEEN x.lo AND x.hi LIMIT 1) y`,
		q.Project, q.TZ, uids, types, los, his)
	if err != nil {
		return nil, fmt.Errorf("probe active days: %w", err)
	}
	found := make([]rollup.Day, len(ask))
	for i := range found {
		found[i] = rollup.NoDay
	}
	var i int64
	var day int32
	if _, err := pgx.ForEachRow(rows, []any{&i, &day}, func() error {
		out[at[i-1]] = true
		found[i-1] = rollup.Day(day)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("probe active days: %w", err)
	}
	knownProbes.learn(scope, version, ask, found)
	return out, nil
}

// localDay is the day of unix time at in q's zone.
func localDay(q *Query, at int64) rollup.Day { return rollup.DayOf(time.Unix(at, 0), q.Loc) }

// tailOf reads the tail of q's days (from UTC day lo) with ids, and with
// the stored users' first events when firstSeen.
func tailOf(ctx context.Context, tx pgx.Tx, q *Query, lo rollup.Day, firstSeen bool) (*tail, error) {
	top, err := maxUID(ctx, tx, q.Project)
	if err != nil {
		return nil, err
	}
	return loadTail(ctx, tx, q, lo, windowOf(q).dayHi, top, firstSeen)
}

// userBucket is one user in one bucket (a bucket's first day).
type userBucket struct {
	uid    uint32
	bucket rollup.Day
}

// dauProbe adds the tail to dau's rollup counts: per bucket, its users the
// rollups do not count there yet. typeName is the one type of the query,
// or "".
func dauProbe(ctx context.Context, tx pgx.Tx, q *Query, typeName string, buckets []rollup.Day, counts []int64) error {
	tl, err := tailOf(ctx, tx, q, windowOf(q).dayLo, false)
	if err != nil {
		return err
	}
	index := map[rollup.Day]int{}
	for i, b := range buckets {
		index[b] = i
	}
	seen := map[userBucket]bool{}
	var probes []probe
	var at []int
	var typeID uint32
	var ofType []uint32
	if typeName != "" {
		ofType = tl.typesOf([]string{typeName})
	}
	for i := range tl.evs {
		e := &tl.evs[i]
		if e.uid == 0 || (typeName != "" && !slices.Contains(ofType, e.typeID)) {
			continue
		}
		d := localDay(q, e.at)
		if d < q.First() || d >= q.End() {
			continue
		}
		b := q.Interval.Bucket(d)
		if seen[userBucket{e.uid, b}] {
			continue
		}
		seen[userBucket{e.uid, b}] = true
		if typeName != "" {
			typeID = e.typeID
		}
		if e.uid > tl.stored || typeID >= tempIDs {
			counts[index[b]]++ // a user or type the rollups do not know
			continue
		}
		probes = append(probes, probe{e.uid, typeID, b, q.Interval.Next(b) - 1})
		at = append(at, index[b])
	}
	active, err := storedActive(ctx, tx, q, tl, probes)
	if err != nil {
		return err
	}
	for i, a := range active {
		if !a {
			counts[at[i]]++
		}
	}
	return nil
}

// topProbe adds the tail to top's rollup counts: every event to its type's
// count, and its user to the type's users when the rollups do not count
// them in the range. It returns the names of the types only the tail has.
func topProbe(ctx context.Context, tx pgx.Tx, q *Query, counts, users map[uint32]int64) (map[uint32]string, error) {
	tl, err := tailOf(ctx, tx, q, windowOf(q).dayLo, false)
	if err != nil {
		return nil, err
	}
	type userType struct{ uid, typeID uint32 }
	seen := map[userType]bool{}
	var probes []probe
	var ofTypes []uint32
	if len(q.Types) > 0 {
		ofTypes = tl.typesOf(q.Types)
	}
	for i := range tl.evs {
		e := &tl.evs[i]
		if ofTypes != nil && !slices.Contains(ofTypes, e.typeID) {
			continue
		}
		if d := localDay(q, e.at); d < q.From || d > q.To {
			continue
		}
		counts[e.typeID]++
		if e.uid == 0 || seen[userType{e.uid, e.typeID}] {
			continue
		}
		seen[userType{e.uid, e.typeID}] = true
		if e.uid > tl.stored || e.typeID >= tempIDs {
			users[e.typeID]++
			continue
		}
		probes = append(probes, probe{e.uid, e.typeID, q.From, q.To})
	}
	active, err := storedActive(ctx, tx, q, tl, probes)
	if err != nil {
		return nil, err
	}
	for i, a := range active {
		if !a {
			users[probes[i].typeID]++
		}
	}
	return tl.names, nil
}

// retentionProbe adds the tail to retention's rollup counts. A user new to
// the rollups joins the cohort of their first tail event, retained in the
// buckets of their others; a known user is retained in the buckets of
// their tail events where the rollups do not count them yet. A tail event
// before a known user's first stored one returns errCohortMoves.
func retentionProbe(ctx context.Context, tx pgx.Tx, q *Query, buckets []rollup.Day, counts [][]int64) error {
	tl, err := tailOf(ctx, tx, q, noDay, true)
	if err != nil {
		return err
	}
	index := map[rollup.Day]int{}
	for i, b := range buckets {
		index[b] = i
	}
	// Per user: their first tail event and the buckets of all of them.
	firsts := map[uint32]int64{}
	var pairs []userBucket
	seen := map[userBucket]bool{}
	for i := range tl.evs {
		e := &tl.evs[i]
		if e.uid == 0 {
			continue
		}
		if f, ok := firsts[e.uid]; !ok || e.at < f {
			firsts[e.uid] = e.at
		}
		if stored, ok := tl.firstSeen[e.uid]; ok && e.at < stored {
			return errCohortMoves
		}
		b := q.Interval.Bucket(localDay(q, e.at))
		if !seen[userBucket{e.uid, b}] {
			seen[userBucket{e.uid, b}] = true
			pairs = append(pairs, userBucket{e.uid, b})
		}
	}
	cohortOf := func(uid uint32) (int, bool) {
		first, known := tl.firstSeen[uid]
		if !known {
			first = firsts[uid]
		}
		c, ok := index[q.Interval.Bucket(localDay(q, first))]
		return c, ok
	}
	var probes []probe
	var at [][2]int
	for _, p := range pairs {
		c, ok := cohortOf(p.uid)
		if !ok {
			continue
		}
		k, in := index[p.bucket]
		if !in || k < c || k-c >= len(counts[c]) {
			continue
		}
		if _, known := tl.firstSeen[p.uid]; !known {
			counts[c][k-c]++ // a new user: every bucket of theirs is new
			continue
		}
		if k == c {
			continue // the stored first event is in the cohort's bucket
		}
		probes = append(probes, probe{p.uid, 0, p.bucket, q.Interval.Next(p.bucket) - 1})
		at = append(at, [2]int{c, k - c})
	}
	active, err := storedActive(ctx, tx, q, tl, probes)
	if err != nil {
		return err
	}
	for i, a := range active {
		if !a {
			counts[at[i][0]][at[i][1]]++
		}
	}
	return nil
}
