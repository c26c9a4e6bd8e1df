package stats

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/rollup"
)

// The tail is the project's events that are stored but not yet in the
// rollups: the rollup feed, read in the query's own snapshot, so that
// every stored event is counted once, by the rollups or by the tail. A
// query whose days the feed does not touch reads the rollups alone; one
// whose days it does is answered from the columns, with the tail's events
// added to what the scan gives (tail.scan), whatever path it would
// otherwise take.

// tempIDs is where ids the rollups have not given yet start: a type first
// seen in the tail gets one above every id of rollup_names' sequence.
const tempIDs = 1 << 31

// tailEvent is one event of the tail, with the ids the columns would give
// it. It holds no pointer, and its names and properties stay with its
// feed row: a tail is built again after every materialization step, and
// while tails of 150 k events held three pointers each, the garbage
// collector's work for them (assists charged to the query that built one)
// made such a query take 20-60 ms instead of 2-3 ms.
type tailEvent struct {
	// at is the event's time in unix seconds, utcDay and sec the same as
	// the columns hold it.
	at     int64
	utcDay rollup.Day
	sec    uint32
	uid    uint32
	// typeID is the type's id, stored or temporary: one id per name
	// within a tail (tail.typeIDs).
	typeID uint32
	// part (in tail.parts) and i find the event in its feed row: its
	// source and its properties (feedPart.valuesOf), read only for a
	// query that filters on them.
	part, i uint32
}

// tail is the tail of one query.
type tail struct {
	// instance is the database's instance id (uidCache, feedCache).
	instance string
	// version is the rollups' count of changes in the query's snapshot
	// (rollup.Version).
	version int64
	evs     []tailEvent
	// parts are the feed rows of evs (tailEvent.part).
	parts []*feedPart
	// stored is the highest user id the rollups gave; ids above it are the
	// tail's new users.
	stored uint32
	// top is the highest user id, those the tail adds included.
	top uint32
	// names are the types the rollups do not know yet, by temporary id.
	names map[uint32]string
	// firstSeen is the stored first event (unix seconds) of the tail's
	// users that the rollups know.
	firstSeen map[uint32]int64
	// ids and typeIDs are the ids given to the tail's subjects and types
	// (add).
	ids, typeIDs map[string]uint32
	// index groups evs by UTC day for scan, once the tail is complete.
	index *tailIndex
}

// tailIndex is a tail's events by UTC day, made by the first scan: a
// tail is kept and scanned by every query while the rollups stand still
// (tailCache), and gathering its events into day batches again for each
// was most of what an unfiltered query over a long tail cost.
type tailIndex struct {
	once sync.Once
	days []tailDay
}

// tailDay is one UTC day of a tail: the positions of its events in the
// tail, in the feed's order (a property filter reads each feed row's
// values once, in turn), and all of them as one batch, each type's events
// together: a query counting by type (stats-top) then finds its type's
// counters once per run, not per event.
type tailDay struct {
	at  []int32
	all batch
}

// tailPlan says how a query counts the feed's events (the tail).
type tailPlan int

const (
	// noTail: the feed holds no event of the query's days.
	noTail tailPlan = iota
	// probeTail: the rollups answer, and the tail's events are added by
	// asking rollup_user_days, per user, whether the rollups count them
	// already (tailmerge.go); for a tail of up to probeLimit events.
	probeTail
	// scanTail: the columns answer, with the tail's events added to the
	// scan.
	scanTail
)

// probeLimit is the most tail events a query merges into the rollups by
// probing: the probes cost per event, the columns per event of the range.
// A variable for tests (SetProbeLimit).
var probeLimit = 50000

// planTail looks at the feed rows of q's project that may hold events of
// UTC days [lo, hi] in tx's snapshot and says how to count them; eligible
// tells whether the rollups could answer q at all. A short tail is merged
// into the rollups' answer, unless the process keeps a fold of q's
// question (shape: shapeOf) from the columns: then the columns answer,
// for the fold takes in a materialization step's new rows in a few ms
// (foldCache) where the merge probes the tail's users again after every
// step (half a second on 10 M stored events).
func planTail(ctx context.Context, tx pgx.Tx, q *Query, lo, hi rollup.Day, eligible bool, shape string) (tailPlan, error) {
	rows, err := rollup.FeedRows(ctx, tx, q.Project, lo, hi)
	if err != nil || len(rows) == 0 {
		return noTail, err
	}
	n := 0
	for _, r := range rows {
		n += r.Events
	}
	if !eligible || n > probeLimit {
		return scanTail, nil
	}
	instance, err := instanceID(ctx, tx)
	if err != nil {
		return 0, err
	}
	if storedFolds.holds(questionOf(instance, q.Project, shape)) {
		return scanTail, nil
	}
	return probeTail, nil
}

// loadTail reads the project's feed events of UTC days [lo, hi] and gives
// them the ids the rollups would: stored users and types keep theirs, new
// ones get ids above top (the highest stored user id). With firstSeen it
// also reads the stored users' first events (tail.firstSeen). The tail may
// be one an earlier query built (tailCache): callers must not change it.
//
// While the rollups stand still and the feed grows, it extends the
// largest tail an earlier query built in the same state (tailCache.base)
// with the rows that came since, instead of resolving the whole feed
// again: during a backlog every query reads the whole tail, and resolving
// it was most of such a query's time.
func loadTail(ctx context.Context, tx pgx.Tx, q *Query, lo, hi rollup.Day, top uint32, firstSeen bool) (*tail, error) {
	instance, err := instanceID(ctx, tx)
	if err != nil {
		return nil, err
	}
	version, err := rollup.Version(ctx, tx)
	if err != nil {
		return nil, err
	}
	rows, err := rollup.FeedRows(ctx, tx, q.Project, lo, hi)
	if err != nil {
		return nil, err
	}
	key := keyOf(instance, q.Project, version, lo, hi, top, firstSeen, rows)
	if t := resolvedTails.get(key); t != nil {
		return t, nil
	}
	var t *tail
	fresh := rows
	if base, rest := resolvedTails.base(key, rows); base != nil {
		t, fresh = base.clone(), rest
	} else {
		t = &tail{instance: instance, version: version, stored: top, top: top, names: map[uint32]string{}, firstSeen: map[uint32]int64{},
			ids: map[string]uint32{}, typeIDs: map[string]uint32{}, index: &tailIndex{}}
	}
	parts, err := decodedFeed.read(ctx, tx, instance, q.Project, fresh)
	if err != nil {
		return nil, err
	}
	if err := t.add(ctx, tx, q.Project, parts, lo, hi, firstSeen); err != nil {
		return nil, err
	}
	resolvedTails.put(key, t)
	return t, nil
}

// clone returns a copy of t that add may extend: t itself may be in the
// cache, shared by other queries.
func (t *tail) clone() *tail {
	c := *t
	c.evs, c.parts = slices.Clip(t.evs), slices.Clip(t.parts) // an append copies
	c.names, c.firstSeen = maps.Clone(t.names), maps.Clone(t.firstSeen)
	c.ids, c.typeIDs = maps.Clone(t.ids), maps.Clone(t.typeIDs)
	c.index = &tailIndex{}
	return &c
}

// add appends the events of parts of UTC days [lo, hi], giving their users
// and types the ids t gave them already, or new ones.
func (t *tail) add(ctx context.Context, tx pgx.Tx, project string, parts []*feedPart, lo, hi rollup.Day, firstSeen bool) error {
	var subjects, types []string
	seenS, seenT := map[string]bool{}, map[string]bool{}
	// A user another tail found stored is known by the event's position,
	// not looked up by subject; but a tail with first events reads them
	// for each user (t.users).
	known := func(part *feedPart, i int) uint32 {
		if firstSeen {
			return 0
		}
		// An id above t.stored is of a user this snapshot does not hold
		// yet: a newer snapshot's query found it.
		if u := part.storedUIDs()[i].Load(); u <= t.stored {
			return u
		}
		return 0
	}
	// used[k][j]: whether parts[k] has an event of the days of its type j.
	used := make([][]bool, len(parts))
	n := 0
	for k, part := range parts {
		used[k] = make([]bool, len(part.types))
		for i := range part.evs {
			e := &part.evs[i]
			if e.utcDay < lo || e.utcDay > hi {
				continue
			}
			n++
			used[k][e.typeIdx] = true
			if e.subject == "" || known(part, i) != 0 {
				continue
			}
			if _, ok := t.ids[e.subject]; !ok && !seenS[e.subject] {
				seenS[e.subject] = true
				subjects = append(subjects, e.subject)
			}
		}
		for j, typ := range part.types {
			if _, ok := t.typeIDs[typ]; !ok && used[k][j] && !seenT[typ] {
				seenT[typ] = true
				types = append(types, typ)
			}
		}
	}
	// An extension often brings no new type: no round trip then.
	typeIDs := map[string]uint32{}
	if len(types) > 0 {
		var err error
		if typeIDs, err = rollup.LookupNames(ctx, tx, project, rollup.NameType, types); err != nil {
			return err
		}
	}
	next := uint32(tempIDs + len(t.names))
	for _, name := range types {
		id, ok := typeIDs[name]
		if !ok {
			id = next
			t.names[next] = name
			next++
		}
		t.typeIDs[name] = id
	}
	uids, err := t.users(ctx, tx, t.instance, project, subjects, firstSeen)
	if err != nil {
		return err
	}
	maps.Copy(t.ids, uids)
	t.evs = slices.Grow(t.evs, n)
	for k, part := range parts {
		at := uint32(len(t.parts))
		t.parts = append(t.parts, part)
		ids := make([]uint32, len(part.types))
		for j, typ := range part.types {
			if used[k][j] {
				ids[j] = t.typeIDs[typ]
			}
		}
		for i := range part.evs {
			e := &part.evs[i]
			if e.utcDay < lo || e.utcDay > hi {
				continue
			}
			var uid uint32
			if e.subject != "" {
				if uid = known(part, i); uid == 0 {
					uid = t.ids[e.subject]
					if uid <= t.stored {
						part.storedUIDs()[i].Store(uid)
					}
				}
			}
			t.evs = append(t.evs, tailEvent{
				at: e.at, utcDay: e.utcDay, sec: e.sec, uid: uid,
				typeID: ids[e.typeIdx], part: at, i: uint32(i),
			})
		}
	}
	return nil
}

// users returns the ids of subjects: stored ones from rollup_users (with
// their first events, into t.firstSeen), new ones numbered from t.top+1
// (t.top moves past them). What rollup_users said at the version t.version
// comes from the process's cache (knownStored); without firstSeen, so do
// the ids met at any version (knownUsers).
func (t *tail) users(ctx context.Context, tx pgx.Tx, instance, project string, subjects []string, firstSeen bool) (map[string]uint32, error) {
	out := make(map[string]uint32, len(subjects))
	if len(subjects) == 0 {
		return out, nil
	}
	scope := storedScope{instance, project}
	var ask []string
	known := knownStored.lookup(scope, t.version, subjects)
	for i, s := range subjects {
		k := known[i]
		switch {
		case k.seen && !k.stored:
			// New to the rollups as of this version: numbered below.
		case k.seen:
			out[s] = k.uid
			t.firstSeen[k.uid] = k.first
		case !firstSeen:
			if uid, ok := knownUsers.get(uidKey{instance, project, s}); ok && uid <= t.stored {
				out[s] = uid
				continue
			}
			ask = append(ask, s)
		default:
			ask = append(ask, s)
		}
	}
	if len(ask) > 0 {
		rows, err := tx.Query(ctx, `SELECT s.s, u.uid, u.first_seen FROM unnest($2::text[]) AS s(s)
			CROSS JOIN LATERAL (SELECT uid, first_seen FROM rollup_users WHERE project = $1 AND subject = s.s LIMIT 1) u`, project, ask)
		if err != nil {
			return nil, fmt.Errorf("read tail users: %w", err)
		}
		found := make(map[string]storedUser, len(ask))
		var s string
		var uid int32
		var at time.Time
		if _, err := pgx.ForEachRow(rows, []any{&s, &uid, &at}, func() error {
			first := at.Unix() // whole seconds, as firstSeen reads them
			out[s] = uint32(uid)
			t.firstSeen[uint32(uid)] = first
			knownUsers.put(uidKey{instance, project, s}, uint32(uid))
			found[s] = storedUser{seen: true, stored: true, uid: uint32(uid), first: first}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read tail users: %w", err)
		}
		knownStored.learn(scope, t.version, ask, found)
	}
	for _, s := range subjects {
		if _, ok := out[s]; !ok {
			t.top++
			out[s] = t.top
		}
	}
	return out, nil
}

// tailFilter is what a scan of the tail keeps, by name and value: the
// tail's types, sources and property values need no id to be matched.
type tailFilter struct {
	// types, when not nil, are the type names kept.
	types []string
	// source, when set, is the source kept.
	source string
	// props are ANDed filters.
	props []propFilter
	// dayLo and dayHi bound the UTC days kept, inclusive.
	dayLo, dayHi rollup.Day
}

// propFilter keeps the events whose property key has one of values (as
// rollup.PropValue holds them: rollup.FilterValues' alternatives).
type propFilter struct {
	key    string
	values []string
}

// filterOf returns q's source and property filters, for the UTC days
// [lo, hi], with types (nil: any).
func filterOf(q *Query, types []string, lo, hi rollup.Day) tailFilter {
	f := tailFilter{types: types, source: q.Source, dayLo: lo, dayHi: hi}
	for _, p := range q.Props {
		pf := propFilter{key: p.Key}
		for _, v := range rollup.FilterValues(p.Key, p.Value) {
			pf.values = append(pf.values, v.Value)
		}
		f.props = append(f.props, pf)
	}
	return f
}

// typesOf returns the ids t gave the named types (nil for nil: any
// type); a name none of t's events has gets none.
func (t *tail) typesOf(names []string) []uint32 {
	if names == nil {
		return nil
	}
	ids := []uint32{}
	for _, name := range names {
		if id, ok := t.typeIDs[name]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// feedEventOf returns e as its feed row holds it.
func (t *tail) feedEventOf(e *tailEvent) *feedEvent {
	return &t.parts[e.part].evs[e.i]
}

// matcher matches a tail's events against a filter, keeping the property
// values of the feed row it last met: a tail's events of one row come
// together.
type matcher struct {
	t     *tail
	f     *tailFilter
	types []uint32 // f.types' ids in t
	// part is the feed row values are of (-1: none yet).
	part   int64
	values [][]string
}

func (m *matcher) match(e *tailEvent) bool {
	f := m.f
	if e.utcDay < f.dayLo || e.utcDay > f.dayHi {
		return false
	}
	if m.types != nil && !slices.Contains(m.types, e.typeID) {
		return false
	}
	if f.source != "" && m.t.feedEventOf(e).source != f.source {
		return false
	}
	if len(f.props) == 0 {
		return true
	}
	if int64(e.part) != m.part {
		m.part, m.values = int64(e.part), m.values[:0]
		for _, p := range f.props {
			m.values = append(m.values, m.t.parts[e.part].valuesOf(p.key))
		}
	}
	for k, p := range f.props {
		if v := m.values[k][e.i]; v == "" || !slices.Contains(p.values, v) {
			return false
		}
	}
	return true
}

// scan calls fn with the tail's events that f keeps, in batches of one
// UTC day, as scan does with the columns: every column filled. Like the
// columns' batches, a batch may be shared: fn must not change it.
func (t *tail) scan(f tailFilter, fn func(*batch)) {
	if t == nil {
		return
	}
	// Every event of a day passes a filter of days alone.
	whole := f.types == nil && f.source == "" && len(f.props) == 0
	m := &matcher{t: t, f: &f, types: t.typesOf(f.types), part: -1}
	for _, d := range t.byDay() {
		if d.all.utcDay < f.dayLo || d.all.utcDay > f.dayHi {
			continue
		}
		if whole {
			b := d.all
			fn(&b)
			continue
		}
		b := &batch{utcDay: d.all.utcDay, types: []uint32{}}
		for _, i := range d.at {
			e := &t.evs[i]
			if m.match(e) {
				b.uids, b.secs, b.types = append(b.uids, e.uid), append(b.secs, e.sec), append(b.types, e.typeID)
			}
		}
		if len(b.uids) > 0 {
			fn(b)
		}
	}
}

// byDay returns t's events by UTC day, ascending (tailIndex).
func (t *tail) byDay() []tailDay {
	if t.index == nil {
		return groupByDay(t.evs)
	}
	t.index.once.Do(func() { t.index.days = groupByDay(t.evs) })
	return t.index.days
}

func groupByDay(evs []tailEvent) []tailDay {
	// Each event's day and type as small indexes, then a counting sort by
	// (day, type): looking each event up in a map per day and two per type
	// was most of what building a tail's index cost (10-14 ms for 150 k
	// events), and every tail of a new rollups version builds one.
	var days indexer[rollup.Day]
	var types indexer[uint32]
	di, ti := make([]int32, len(evs)), make([]int32, len(evs))
	for i := range evs {
		di[i], ti[i] = days.of(evs[i].utcDay), types.of(evs[i].typeID)
	}
	// cell[i]: event i's (day, type); a grid of them while it is small,
	// the pairs met numbered once it is not (a tail of late events over
	// many days and many types).
	cell, dayOf := ti, func(c int32) int32 { return c / int32(len(types.keys)) }
	cells := len(days.keys) * len(types.keys)
	if cells <= 4*len(evs)+4096 {
		for i := range evs {
			cell[i] = di[i]*int32(len(types.keys)) + ti[i]
		}
	} else {
		var pairs indexer[int64]
		for i := range evs {
			cell[i] = pairs.of(int64(di[i])<<32 | int64(ti[i]))
		}
		cells, dayOf = len(pairs.keys), func(c int32) int32 { return int32(pairs.keys[c] >> 32) }
	}
	// next[c]: where cell c's next event goes in its day's batch, each
	// cell's events together.
	next := make([]int32, cells)
	for _, c := range cell {
		next[c]++
	}
	size := make([]int32, len(days.keys))
	for c, n := range next {
		d := dayOf(int32(c))
		size[d], next[c] = size[d]+n, size[d]
	}
	out := make([]tailDay, len(days.keys))
	for d, n := range size {
		out[d] = tailDay{at: make([]int32, 0, n), all: batch{utcDay: days.keys[d],
			uids: make([]uint32, n), secs: make([]uint32, n), types: make([]uint32, n)}}
	}
	for i := range evs {
		e, day, k := &evs[i], &out[di[i]], &next[cell[i]]
		day.at = append(day.at, int32(i))
		day.all.uids[*k], day.all.secs[*k], day.all.types[*k] = e.uid, e.sec, e.typeID
		*k++
	}
	slices.SortFunc(out, func(a, b tailDay) int { return cmp.Compare(a.all.utcDay, b.all.utcDay) })
	return out
}

// indexer numbers keys from 0 in the order they first come. Events come
// in runs of one key (a feed row's of one day, say): a run is looked up
// once.
type indexer[K comparable] struct {
	at   map[K]int32
	keys []K
	last int32
}

func (x *indexer[K]) of(k K) int32 {
	if len(x.keys) > 0 && x.keys[x.last] == k {
		return x.last
	}
	i, ok := x.at[k]
	if !ok {
		if x.at == nil {
			x.at = map[K]int32{}
		}
		i = int32(len(x.keys))
		x.at[k] = i
		x.keys = append(x.keys, k)
	}
	x.last = i
	return i
}
