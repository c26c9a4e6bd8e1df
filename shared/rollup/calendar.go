package rollup

import (
	"cmp"
	"context"
	"fmt"
	"maps"
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
// one zone. Apply holds the rollups' writer lock, so no one else changes
// the users' rows of rollup_user_days meanwhile.
//
// It reads, in one query or two, the stored active days of the (user,
// type) groups the items that are not quiet touch, every one of each
// group: they tell which days, weeks and months are new for the user,
// which gaps of rollup_type_prevs change, and the user's first day (type
// 0): the retention cohort, which a late event may move back. Its phases
// are timed on clk (nil: not timed).
func applyCalendar(ctx context.Context, tx pgx.Tx, tz string, loc *time.Location, items []calItem, memo *Memo, hist *histStep, clk *clock) error {
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
	if len(groups) == 0 {
		return d.write(ctx, tx, tz, clk)
	}
	for k, days := range groups {
		slices.Sort(days)
		groups[k] = slices.Compact(days)
	}
	clk.lap(PhaseCalendar)
	st, err := storedDays(ctx, tx, tz, groups, memo, hist)
	if err != nil {
		return err
	}
	clk.lap(PhaseStoredDays)
	added := map[userRef]int{}
	type moved struct {
		k     groupKey
		fresh []Day
		w     *window
	}
	var moves []moved
	for k, days := range groups {
		w := &window{old: st.days[k]}
		if first, ok := st.firsts[k]; ok {
			w.hasFirst, w.first = true, first
		} else if k.typeID == 0 && len(w.old) > 0 {
			// The whole history of the group: its first day is the
			// user's first ever.
			w.hasFirst, w.first = true, w.old[0]
		}
		fresh, needAll := d.addGroup(k, days, w)
		if needAll {
			moves = append(moves, moved{k, fresh, w})
		}
		added[userRef{k.project, k.uid}] += len(fresh)
		hist.added(tz, k, fresh)
	}
	if len(moves) > 0 {
		// A late event moves these users' cohorts: that needs every day
		// of theirs, which a window may not hold.
		all := map[groupKey][]Day{}
		for _, m := range moves {
			if _, windowed := st.firsts[m.k]; windowed {
				all[m.k] = nil
			}
		}
		clk.lap(PhaseCalendar)
		read, err := groupDays(ctx, tx, tz, all)
		if err != nil {
			return err
		}
		clk.lap(PhaseStoredDays)
		for _, m := range moves {
			old := m.w.old
			if _, windowed := st.firsts[m.k]; windowed {
				old = read[m.k]
			}
			d.addMovedCohort(m.k, m.fresh, m.w, old)
		}
	}
	memo.grewHistories(tz, added)
	clk.lap(PhaseCalendar)
	return d.write(ctx, tx, tz, clk)
}

// narrowFactor steers storedDays (unless a Memo sets its own): a user
// whose stored days are known to be at least narrowFactor times the groups
// a chunk touches has the groups read one by one rather than their whole
// history. Each group read costs an index descent, about as much as
// reading some tens of rows; 8 kept young data (a few days per user, where
// one range per user wins) as fast as before and halved the read on 10 M
// stored events (scripts/bench consume, both measured).
const narrowFactor = 8

// storedGroups is what storedDays read.
type storedGroups struct {
	// days are each group's stored days, ascending: all of them, or, for
	// the groups in firsts, those of the weeks and months of its
	// candidate days.
	days map[groupKey][]Day
	// firsts are the first stored days of the type 0 groups read by
	// window (none when the user has no stored day).
	firsts map[groupKey]Day
}

// storedDays reads the stored days in zone tz of each of groups (each
// with its candidate days, ascending). Users whose histories memo does not
// know as long are read whole, by the primary key's prefix (one index
// range scan each: their rows are few). The others are read by group, so
// that the cost of a chunk does not grow with its users' pasts: each type
// but 0 whole (a user's days of one type are few, and its gaps need the
// neighbouring days), type 0 (every day the user was active) only in the
// weeks and months of its candidate days, with the user's first day.
func storedDays(ctx context.Context, tx pgx.Tx, tz string, groups map[groupKey][]Day, memo *Memo, hist *histStep) (storedGroups, error) {
	out := storedGroups{days: map[groupKey][]Day{}, firsts: map[groupKey]Day{}}
	touched := map[userRef]int{}
	for k := range groups {
		touched[userRef{k.project, k.uid}]++
	}
	// Whole histories the memo holds exactly as the rollups are now
	// need no read at all.
	known := memo.knownHistories(hist, tz, touched)
	for k := range groups {
		if h, ok := known[userRef{k.project, k.uid}]; ok {
			out.days[k] = h.daysOf(k.typeID)
		}
	}
	for u := range known {
		delete(touched, u)
	}
	if err := memo.estimateHistories(ctx, tx, tz); err != nil {
		return out, err
	}
	long := memo.longHistories(tz, touched)
	type byUser struct {
		whole   []int32
		windows []groupKey
	}
	byProject := map[string]*byUser{}
	narrow := map[groupKey][]Day{}
	for k := range groups {
		if _, ok := known[userRef{k.project, k.uid}]; ok {
			continue
		}
		p := byProject[k.project]
		if p == nil {
			p = &byUser{}
			byProject[k.project] = p
		}
		switch {
		case long[userRef{k.project, k.uid}] && k.typeID == 0:
			p.windows = append(p.windows, k)
		case long[userRef{k.project, k.uid}]:
			narrow[k] = nil
		case k.typeID == 0:
			p.whole = append(p.whole, int32(k.uid))
		}
	}
	read := map[userRef]int{}
	for project, p := range byProject {
		// wholes are the histories of the users read whole, in the
		// Memo's encoding (rows come by type and day).
		wholes := map[userRef][]uint64{}
		collect := func(rows pgx.Rows, err error) error {
			if err != nil {
				return fmt.Errorf("read active days (%s): %w", tz, err)
			}
			var uid, typeID, day int32
			if _, err := pgx.ForEachRow(rows, []any{&uid, &typeID, &day}, func() error {
				k := groupKey{project, uint32(uid), uint32(typeID)}
				if typeID < 0 { // a first day (see below)
					k.typeID = 0
					out.firsts[k] = Day(day)
					return nil
				}
				out.days[k] = append(out.days[k], Day(day))
				u := userRef{project, uint32(uid)}
				read[u]++
				if long[u] {
					return nil
				}
				wholes[u] = append(wholes[u], histRow(k.typeID, Day(day)))
				return nil
			}); err != nil {
				return fmt.Errorf("read active days (%s): %w", tz, err)
			}
			return nil
		}
		// One index range scan per user or group, whatever the planner
		// thinks of the table's size: statistics lag a table that grows
		// fast.
		if len(p.whole) > 0 {
			slices.Sort(p.whole)
			if err := collect(tx.Query(ctx, `SELECT u.uid, d.type_id, d.day FROM unnest($3::int[]) AS u(uid)
				CROSS JOIN LATERAL (SELECT type_id, day FROM rollup_user_days
					WHERE project = $1 AND tz = $2 AND uid = u.uid ORDER BY type_id, day) d`, project, tz, p.whole)); err != nil {
				return out, err
			}
		}
		if len(p.windows) > 0 {
			slices.SortFunc(p.windows, func(a, b groupKey) int { return cmp.Compare(a.uid, b.uid) })
			uids, los, his := make([]int32, len(p.windows)), make([]int32, len(p.windows)), make([]int32, len(p.windows))
			for i, k := range p.windows {
				days := groups[k]
				uids[i], los[i], his[i] = int32(k.uid), int32(windowStart(days[0])), int32(windowEnd(days[len(days)-1]))
			}
			// The first day comes back with type -1.
			if err := collect(tx.Query(ctx, `SELECT x.uid, d.t, d.day FROM unnest($3::int[], $4::int[], $5::int[]) AS x(uid, lo, hi)
				CROSS JOIN LATERAL ((SELECT -1 AS t, day FROM rollup_user_days
					WHERE project = $1 AND tz = $2 AND uid = x.uid AND type_id = 0 ORDER BY day LIMIT 1)
				UNION ALL (SELECT 0, day FROM rollup_user_days
					WHERE project = $1 AND tz = $2 AND uid = x.uid AND type_id = 0 AND day BETWEEN x.lo AND x.hi ORDER BY day)) d`,
				project, tz, uids, los, his)); err != nil {
				return out, err
			}
		}
		// What a whole read counted is the user's history.
		whole := map[userRef]int{}
		for _, uid := range p.whole {
			u := userRef{project, uint32(uid)}
			whole[u] = read[u]
			hist.read(tz, u, wholes[u])
		}
		memo.sawHistories(tz, whole)
	}
	byGroup, err := groupDays(ctx, tx, tz, narrow)
	if err != nil {
		return out, err
	}
	maps.Copy(out.days, byGroup)
	return out, nil
}

// windowStart and windowEnd bound the days whose presence addGroup needs
// around a type 0 group's candidate days: those of the weeks and months
// they fall in.
func windowStart(first Day) Day {
	return min(GrainWeek.Bucket(first), GrainMonth.Bucket(first))
}

func windowEnd(last Day) Day {
	return max(GrainWeek.Next(GrainWeek.Bucket(last)), GrainMonth.Next(GrainMonth.Bucket(last))) - 1
}

// groupDays reads every stored day in zone tz of each of groups (the keys;
// the values are ignored), one index range scan per group, in index order.
func groupDays(ctx context.Context, tx pgx.Tx, tz string, groups map[groupKey][]Day) (map[groupKey][]Day, error) {
	out := map[groupKey][]Day{}
	keys := slices.SortedFunc(maps.Keys(groups), func(a, b groupKey) int {
		return cmp.Or(cmp.Compare(a.project, b.project), cmp.Compare(a.uid, b.uid), cmp.Compare(a.typeID, b.typeID))
	})
	byProject := map[string][2][]int32{}
	for _, k := range keys {
		p := byProject[k.project]
		byProject[k.project] = [2][]int32{append(p[0], int32(k.uid)), append(p[1], int32(k.typeID))}
	}
	for project, p := range byProject {
		rows, err := tx.Query(ctx, `SELECT x.uid, x.t, d.day FROM unnest($3::int[], $4::int[]) AS x(uid, t)
			CROSS JOIN LATERAL (SELECT day FROM rollup_user_days
				WHERE project = $1 AND tz = $2 AND uid = x.uid AND type_id = x.t ORDER BY day) d`, project, tz, p[0], p[1])
		if err != nil {
			return nil, fmt.Errorf("read active days (%s): %w", tz, err)
		}
		var uid, typeID, day int32
		if _, err := pgx.ForEachRow(rows, []any{&uid, &typeID, &day}, func() error {
			k := groupKey{project, uint32(uid), uint32(typeID)}
			out[k] = append(out[k], Day(day))
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read active days (%s): %w", tz, err)
		}
	}
	return out, nil
}

// window is what Apply knows of a group's stored days.
type window struct {
	// old are the group's stored days, ascending: all of them, or for a
	// type 0 group read by window, at least those of the weeks and months
	// of its candidate days (see storedDays).
	old []Day
	// first is the user's first stored day (type 0 only), when hasFirst.
	first    Day
	hasFirst bool
}

// activeGrains are the grains of rollup_active.
var activeGrains = [...]Grain{GrainDay, GrainWeek, GrainMonth}

// retentionGrains are the grains of rollup_retention: the first ones of
// activeGrains.
var retentionGrains = activeGrains[:2]

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
	// By the grain's place in activeGrains, whose first ones are the
	// retention grains.
	var newBuckets [len(activeGrains)][]Day
	for i, g := range activeGrains {
		newBuckets[i] = newBucketsOf(g, fresh, w.old)
		for _, b := range newBuckets[i] {
			d.active[activeKey{k.project, g, k.typeID, b}]++
		}
	}
	if k.typeID != 0 {
		d.addGaps(k, w.old, fresh)
		return fresh, false
	}
	for i, g := range retentionGrains {
		if w.hasFirst && g.Bucket(min(w.first, fresh[0])) != g.Bucket(w.first) {
			needAll = true
			continue
		}
		cohort := g.Bucket(fresh[0])
		if w.hasFirst {
			cohort = g.Bucket(w.first)
		}
		for _, b := range newBuckets[i] {
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

// addGaps adds the changes of a group's gaps (pairs of consecutive active
// days, the first day's paired with NoDay) when the days fresh (ascending)
// join its stored days old (all of them, ascending, none in fresh). Each
// run of fresh days between two stored ones replaces that one pair with
// pairs through the run, so the work is per fresh day, not per stored one.
func (d *deltas) addGaps(k groupKey, old, fresh []Day) {
	for i := 0; i < len(fresh); {
		// fresh[i:j] lie between old[at-1] (or nothing) and old[at].
		at, _ := slices.BinarySearch(old, fresh[i])
		j := i + 1
		for j < len(fresh) && (at == len(old) || fresh[j] < old[at]) {
			j++
		}
		prev := NoDay
		if at > 0 {
			prev = old[at-1]
		}
		if at < len(old) {
			d.gaps[gapKey{k.project, old[at], k.typeID, prev}]--
			d.gaps[gapKey{k.project, old[at], k.typeID, fresh[j-1]}]++
		}
		for _, f := range fresh[i:j] {
			d.gaps[gapKey{k.project, f, k.typeID, prev}]++
			prev = f
		}
		i = j
	}
}

// newBucketsOf returns the buckets of fresh days (ascending) that no old
// day (ascending) is in, each once, looking old up by bucket rather than
// reading it all.
func newBucketsOf(g Grain, fresh, old []Day) []Day {
	var out []Day
	for _, day := range fresh {
		b := g.Bucket(day)
		if len(out) > 0 && out[len(out)-1] == b {
			continue
		}
		if at, _ := slices.BinarySearch(old, b); at < len(old) && old[at] < g.Next(b) {
			continue
		}
		out = append(out, b)
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
