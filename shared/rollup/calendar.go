package rollup

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// calItem is one event as the calendar rollups see it.
type calItem struct {
	project string
	uid     uint32 // 0: anonymous
	typeID  uint32
	t       time.Time
	// quiet items only count as events: their user's activities on their
	// day are stored already (Memo.markQuiet).
	quiet bool
}

// userRef is a user by dense id.
type userRef struct {
	project string
	uid     uint32
}

type groupKey struct {
	project     string
	uid, typeID uint32
}

// applyCalendar adds items, all newly stored, to the calendar rollups of
// one zone. Every user of items must be locked by the transaction (see
// resolveUsers), so that user's rows in rollup_user_days change under us
// in no other way.
//
// For each (user, type) it reads only the window of known active days
// that the new days can touch: the nearest day before the earliest new
// day, the days between the earliest and latest new day, and the nearest
// day after the latest. That is enough to tell which days, weeks and
// months are new for the user and which gaps of rollup_type_prevs change.
// The user's first day, for the retention cohort, is the day of their
// first_seen before this batch (known; absent for a new user). Only a late
// event that moves a user's cohort reads all of that user's days.
func applyCalendar(ctx context.Context, tx pgx.Tx, tz string, loc *time.Location, items []calItem, known map[userRef]time.Time) error {
	d := newDeltas()
	groups := map[groupKey][]Day{}
	for _, it := range items {
		day := DayOf(it.t, loc)
		d.typeDays[typeDayKey{it.project, day, it.typeID}]++
		if it.uid == 0 || it.quiet {
			continue
		}
		for _, typeID := range []uint32{it.typeID, 0} {
			k := groupKey{it.project, it.uid, typeID}
			groups[k] = append(groups[k], day)
		}
	}
	keys := make([]groupKey, 0, len(groups))
	n := len(groups)
	projects, uids, types, los, his := make([]string, 0, n), make([]int32, 0, n), make([]int32, 0, n), make([]int32, 0, n), make([]int32, 0, n)
	for k, days := range groups {
		slices.Sort(days)
		days = slices.Compact(days)
		groups[k] = days
		keys = append(keys, k)
		projects, uids, types = append(projects, k.project), append(uids, int32(k.uid)), append(types, int32(k.typeID))
		los, his = append(los, int32(days[0])), append(his, int32(days[len(days)-1]))
	}
	windows := make([]window, len(keys))
	if len(keys) > 0 {
		rows, err := tx.Query(ctx, windowSQL, tz, projects, uids, types, los, his)
		if err != nil {
			return fmt.Errorf("read active days (%s): %w", tz, err)
		}
		var i int64
		var tag string
		var day int32
		if _, err := pgx.ForEachRow(rows, []any{&i, &tag, &day}, func() error {
			w := &windows[i-1]
			w.hasPred = w.hasPred || tag == "p"
			w.old = append(w.old, Day(day))
			return nil
		}); err != nil {
			return fmt.Errorf("read active days (%s): %w", tz, err)
		}
	}
	var moved []int
	for i, k := range keys {
		w := &windows[i]
		slices.Sort(w.old)
		if first, ok := known[userRef{k.project, k.uid}]; ok && k.typeID == 0 {
			w.hasFirst, w.first = true, DayOf(first, loc)
		}
		fresh, needAll := d.addGroup(k, groups[k], w)
		if needAll {
			groups[k] = fresh
			moved = append(moved, i)
		}
	}
	if len(moved) > 0 {
		if err := addMoved(ctx, tx, tz, d, keys, groups, windows, moved); err != nil {
			return err
		}
	}
	return d.write(ctx, tx, tz)
}

// windowSQL reads, for each (project, uid, type, lo, hi) numbered i, the
// nearest active day before lo (tag p), the days in [lo, hi] and the
// nearest after hi (n). For a single day (lo = hi, the common case) one
// probe returns the day and the next; it may return a day past the
// nearest one after hi, which is harmless: the window may hold any known
// days, as long as it holds those.
const windowSQL = `
SELECT g.i, w.tag, w.day
FROM unnest($2::text[], $3::int[], $4::int[], $5::int[], $6::int[]) WITH ORDINALITY AS g(p, uid, type_id, lo, hi, i)
CROSS JOIN LATERAL (
	(SELECT 'p' AS tag, d.day FROM rollup_user_days d
	 WHERE d.project = g.p AND d.tz = $1 AND d.uid = g.uid AND d.type_id = g.type_id AND d.day < g.lo
	 ORDER BY d.day DESC LIMIT 1)
	UNION ALL
	(SELECT 'n', d.day FROM rollup_user_days d
	 WHERE d.project = g.p AND d.tz = $1 AND d.uid = g.uid AND d.type_id = g.type_id
	   AND d.day >= g.lo AND d.day <= CASE WHEN g.lo = g.hi THEN 2147483647 ELSE g.hi END
	 ORDER BY d.day LIMIT CASE WHEN g.lo = g.hi THEN 2 END)
	UNION ALL
	(SELECT 'n', d.day FROM rollup_user_days d
	 WHERE g.lo < g.hi AND d.project = g.p AND d.tz = $1 AND d.uid = g.uid AND d.type_id = g.type_id AND d.day > g.hi
	 ORDER BY d.day LIMIT 1)
) w`

// window is what a group's new days can touch of its known days.
type window struct {
	// old are the known days in the window, ascending; old[0] is the
	// predecessor when hasPred.
	old     []Day
	hasPred bool
	// first is the user's first known day (type 0 only), when hasFirst.
	first    Day
	hasFirst bool
}

// addMoved reads every known day of the users whose cohort moves and adds
// their retention changes; groups holds their new days.
func addMoved(ctx context.Context, tx pgx.Tx, tz string, d *deltas, keys []groupKey, groups map[groupKey][]Day, windows []window, moved []int) error {
	projects, uids := make([]string, len(moved)), make([]int32, len(moved))
	for j, i := range moved {
		projects[j], uids[j] = keys[i].project, int32(keys[i].uid)
	}
	rows, err := tx.Query(ctx, `
		SELECT d.project, d.uid, d.day FROM rollup_user_days d
		JOIN unnest($2::text[], $3::int[]) AS k(p, uid) ON d.project = k.p AND d.uid = k.uid
		WHERE d.tz = $1 AND d.type_id = 0`, tz, projects, uids)
	if err != nil {
		return fmt.Errorf("read days of moved users (%s): %w", tz, err)
	}
	all := map[groupKey][]Day{}
	var k groupKey
	var uid, day int32
	if _, err := pgx.ForEachRow(rows, []any{&k.project, &uid, &day}, func() error {
		k.uid = uint32(uid)
		all[k] = append(all[k], Day(day))
		return nil
	}); err != nil {
		return fmt.Errorf("read days of moved users (%s): %w", tz, err)
	}
	for _, i := range moved {
		d.addMovedCohort(keys[i], groups[keys[i]], &windows[i], all[keys[i]])
	}
	return nil
}

// retentionGrains are the grains of rollup_retention.
var retentionGrains = []Grain{GrainDay, GrainWeek}

// activeGrains are the grains of rollup_active.
var activeGrains = []Grain{GrainDay, GrainWeek, GrainMonth}

// addGroup adds the changes of one group's candidate days x (ascending,
// distinct) given its window w, and returns the days that are new. When
// the group is a user's type 0 and the new days move the user's cohort
// bucket of some grain, that grain's retention change needs every known
// day of the user: addGroup leaves it out and reports needAll, and
// addMovedCohort adds it.
func (d *deltas) addGroup(k groupKey, x []Day, w *window) (fresh []Day, needAll bool) {
	for _, day := range x {
		if _, found := slices.BinarySearch(w.old, day); !found {
			fresh = append(fresh, day)
		}
	}
	if len(fresh) == 0 {
		return nil, false
	}
	for _, day := range fresh {
		d.members = append(d.members, member{k, day})
	}
	newBuckets := map[Grain][]Day{}
	for _, g := range activeGrains {
		newBuckets[g] = newBucketsOf(g, fresh, w.old)
		for _, b := range newBuckets[g] {
			d.active[activeKey{k.project, g, k.typeID, b}]++
		}
	}
	if k.typeID != 0 {
		merged := append(slices.Clone(w.old), fresh...)
		slices.Sort(merged)
		d.addGaps(k, merged, 1, w.hasPred)
		d.addGaps(k, w.old, -1, w.hasPred)
		return fresh, false
	}
	for _, g := range retentionGrains {
		if w.hasFirst && g.Bucket(min(w.first, fresh[0])) != g.Bucket(w.first) {
			needAll = true
			continue
		}
		cohort := g.Bucket(fresh[0])
		if w.hasFirst {
			cohort = g.Bucket(w.first)
		}
		for _, b := range newBuckets[g] {
			d.retention[retKey{k.project, g, cohort, b}]++
		}
	}
	return fresh, needAll
}

// addMovedCohort adds the retention changes of a user whose new days
// (fresh) start before the cohort bucket of their known days (allOld, the
// first being w.first): each known bucket leaves the old cohort, and every
// bucket joins the new one.
func (d *deltas) addMovedCohort(k groupKey, fresh []Day, w *window, allOld []Day) {
	for _, g := range retentionGrains {
		cOld, cNew := g.Bucket(w.first), g.Bucket(min(w.first, fresh[0]))
		if cOld == cNew {
			continue
		}
		old := bucketsOf(g, allOld)
		for _, b := range old {
			d.retention[retKey{k.project, g, cOld, b}]--
		}
		for _, b := range mergeBuckets(old, bucketsOf(g, fresh)) {
			d.retention[retKey{k.project, g, cNew, b}]++
		}
	}
}

// addGaps adds sign × the consecutive pairs of days (ascending). Without
// a predecessor, days[0] is the user's first day of the type: its pair
// starts at NoDay.
func (d *deltas) addGaps(k groupKey, days []Day, sign int64, hasPred bool) {
	if len(days) == 0 {
		return
	}
	if !hasPred {
		d.gaps[gapKey{k.project, days[0], k.typeID, NoDay}] += sign
	}
	for i := 1; i < len(days); i++ {
		d.gaps[gapKey{k.project, days[i], k.typeID, days[i-1]}] += sign
	}
}

// newBucketsOf returns the buckets of fresh days that no old day is in.
// old needs only the days near fresh: any old day sharing a bucket with a
// fresh day lies in the window, buckets being intervals.
func newBucketsOf(g Grain, fresh, old []Day) []Day {
	have := map[Day]bool{}
	for _, day := range old {
		have[g.Bucket(day)] = true
	}
	var out []Day
	for _, day := range fresh {
		b := g.Bucket(day)
		if !have[b] {
			have[b] = true
			out = append(out, b)
		}
	}
	return out
}

// bucketsOf returns the distinct buckets of days, ascending.
func bucketsOf(g Grain, days []Day) []Day {
	out := make([]Day, 0, len(days))
	for _, day := range days {
		out = append(out, g.Bucket(day))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func mergeBuckets(a, b []Day) []Day {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}
