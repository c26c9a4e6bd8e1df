package rollup

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Memo remembers, for one database, facts that committed transactions
// stored and that can never change afterwards: the ids of types, sources,
// property values and users, an upper bound of each user's first_seen
// (first_seen only ever moves back), and which (user, type, local day)
// activities each zone's rollup_user_days holds (rows are never removed;
// the row of any type on that day is always there too).
//
// Apply uses it to leave alone what an event cannot change: an event of a
// user whose activity on that day and type is already stored in every
// zone, and no earlier than the user's known first event, adds only to the
// event counts and the columns, so it needs no user lock, no read of active
// days and no calendar write. In steady traffic most events are such
// repeats. A fact is learned only after the transaction that stored it
// committed (Learn), so a rolled-back batch teaches nothing.
//
// A Memo belongs to one database: share it between the transactions of one
// pool, never across databases. Each table is bounded (two generations of
// memoGeneration entries); forgetting only costs the work the Memo saves.
// Safe for concurrent use.
type Memo struct {
	mu    sync.Mutex
	names generations[nameKey, uint32]
	props generations[propKey, int64]
	users generations[userKey, memoUser]
	// facts holds activities per zone name.
	facts map[string]*generations[activityKey, struct{}]
	// histories are hints, not facts: about how many rows of
	// rollup_user_days each user has, per zone and project, as this
	// process last read or added them (another replica's additions are
	// not counted). They only steer how Apply reads users' days
	// (storedDays), never what it counts.
	histories generations[historyKey, uint32]
	// scopes interns the histories' scopes, so that each entry holds a
	// pointer rather than two strings.
	scopes map[historyScope]*historyScope
	// typical is the mean history of the users the last whole read of a
	// scope counted, which stands for users not in histories: a process
	// that starts on years of stored data reads whole only its first
	// chunk's users.
	typical map[historyScope]int
	// fallback is, per zone, the mean history of a user in the table's
	// statistics, for scopes without typical; estimated marks the zones
	// whose statistics were read.
	fallback  map[string]int
	estimated map[string]bool
	// narrowFactor, when not 0, replaces the package's (tests).
	narrowFactor int
	// hist holds users' whole histories, exact as of histVersion, with
	// histRows rows in all (histcache.go).
	hist        map[historyKey]history
	histVersion int64
	histRows    int
}

type historyScope struct{ tz, project string }

type historyKey struct {
	scope *historyScope
	uid   uint32
}

// scope returns the interned scope of tz and project; when there is none
// yet, a new one if create, else nil. m.mu is held.
func (m *Memo) scope(tz, project string, create bool) *historyScope {
	s := historyScope{tz, project}
	if p := m.scopes[s]; p != nil || !create {
		return p
	}
	p := &historyScope{strings.Clone(tz), strings.Clone(project)}
	m.scopes[*p] = p
	return p
}

// memoGeneration bounds each of a Memo's tables: at most two generations
// of this many entries, some tens of MB when every table is full.
const memoGeneration = 1 << 17

// memoUser is what a Memo knows of one user.
type memoUser struct {
	uid uint32
	// first is at or after the user's first_seen.
	first time.Time
}

// activityKey is one user's activity of one type on one local day.
type activityKey struct {
	project     string
	uid, typeID uint32
	day         Day
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo {
	return &Memo{
		facts:     map[string]*generations[activityKey, struct{}]{},
		histories: generations[historyKey, uint32]{limit: 1 << 18},
		scopes:    map[historyScope]*historyScope{},
		typical:   map[historyScope]int{},
		fallback:  map[string]int{},
		estimated: map[string]bool{},
		hist:      map[historyKey]history{},
		// No count of changes is -1: an Apply bumps from 0 or more.
		histVersion: -1,
	}
}

// Learned is what one Apply call stored, for Memo.Learn once its
// transaction committed.
type Learned struct {
	hist  *histStep
	names map[nameKey]uint32
	props map[propKey]int64
	users map[userKey]memoUser
	facts map[string][]activityKey
}

// Learn records what a committed Apply stored. A nil Memo or Learned does
// nothing.
func (m *Memo) Learn(l *Learned) {
	if m == nil || l == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.learnHistories(l.hist)
	// Every text a Memo keeps is its own copy: a decoded batch's texts are
	// substrings of one string holding the whole batch (event.DecodeRecords),
	// so keeping one of them would keep the batch, and a Memo's entries,
	// learned from thousands of batches, kept gigabytes (seen under
	// sustained load).
	for k, id := range l.names {
		m.names.put(nameKey{strings.Clone(k.project), k.kind, strings.Clone(k.name)}, id)
	}
	for k, id := range l.props {
		m.props.put(propKey{strings.Clone(k.project), strings.Clone(k.hash)}, id)
	}
	for k, u := range l.users {
		if old, ok := m.users.get(k); ok && old.first.Before(u.first) {
			u.first = old.first
		}
		m.users.put(userKey{strings.Clone(k.project), strings.Clone(k.subject)}, u)
	}
	for tz, acts := range l.facts {
		g := m.facts[tz]
		if g == nil {
			g = &generations[activityKey, struct{}]{}
			m.facts[strings.Clone(tz)] = g
		}
		for _, a := range acts {
			a.project = strings.Clone(a.project)
			g.put(a, struct{}{})
		}
	}
}

// generations is a map bounded by forgetting its older half: entries go
// into cur, and when cur is full it becomes old and the previous old is
// dropped.
type generations[K comparable, V any] struct {
	cur, old map[K]V
	// limit is the size of a generation; 0 means memoGeneration.
	limit int
}

func (g *generations[K, V]) get(k K) (V, bool) {
	if v, ok := g.cur[k]; ok {
		return v, true
	}
	v, ok := g.old[k]
	return v, ok
}

func (g *generations[K, V]) put(k K, v V) {
	if g.cur == nil {
		g.cur = map[K]V{}
	}
	limit := g.limit
	if limit == 0 {
		limit = memoGeneration
	}
	if _, ok := g.cur[k]; !ok && len(g.cur) >= limit {
		g.old, g.cur = g.cur, map[K]V{}
	}
	g.cur[k] = v
}

// recall fills in the ids the Memo knows: of names (left 0 when unknown),
// of property values (absent when unknown) and of users, with each
// user's known first event.
func (m *Memo) recall(names map[nameKey]uint32, vals map[propKey]PropValue, propIDs map[propKey]int64, users map[userKey]*userState) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range names {
		if id, ok := m.names.get(k); ok {
			names[k] = id
		}
	}
	for k := range vals {
		if id, ok := m.props.get(k); ok {
			propIDs[k] = id
		}
	}
	for k, u := range users {
		if mu, ok := m.users.get(k); ok {
			u.uid, u.memoFirst, u.inMemo = mu.uid, mu.first, true
		}
	}
}

// markQuiet returns which events change nothing of their user's own in
// the calendar rollups: events of users the Memo knows whose (type, day)
// activity is stored in every zone. It marks quiet
// the users with only such events and none before their known first one:
// they need no lock and no first_seen update. names must hold every type
// id.
func (m *Memo) markQuiet(zones []zone, evs []Event, names map[nameKey]uint32, users map[userKey]*userState) []bool {
	quiet := make([]bool, len(evs))
	if m == nil {
		return quiet
	}
	for _, u := range users {
		u.quiet = u.inMemo && !u.first.Before(u.memoFirst)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, e := range evs {
		if e.Subject == "" {
			continue
		}
		u := users[userKey{e.Project, e.Subject}]
		quiet[i] = u.inMemo && m.stored(zones, e.Project, u.uid, names[nameKey{e.Project, NameType, e.Type}], e.Time)
		u.quiet = u.quiet && quiet[i]
	}
	return quiet
}

// stored reports whether every zone holds the user's activity of the type
// on the day of t, and so (Apply writes both) of any type. m.mu is held.
func (m *Memo) stored(zones []zone, project string, uid, typeID uint32, t time.Time) bool {
	for _, z := range zones {
		facts := m.facts[z.name]
		if facts == nil {
			return false
		}
		day := DayOf(t, z.loc)
		if _, ok := facts.get(activityKey{project, uid, typeID, day}); !ok {
			return false
		}
	}
	return true
}

// longHistories returns the users of touched (each with its count of
// groups) whose stored days the Memo knows to be at least narrowFactor
// times their count.
func (m *Memo) longHistories(tz string, touched map[userRef]int) map[userRef]bool {
	out := map[userRef]bool{}
	if m == nil {
		return out
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	factor := cmp.Or(m.narrowFactor, narrowFactor)
	for u, groups := range touched {
		rows, known := 0, false
		if p := m.scope(tz, u.project, false); p != nil {
			var n uint32
			n, known = m.histories.get(historyKey{p, u.uid})
			rows = int(n)
		}
		if !known {
			rows, known = m.typical[historyScope{tz, u.project}]
		}
		if !known {
			rows, known = m.fallback[tz]
		}
		if known && rows >= factor*groups {
			out[u] = true
		}
	}
	return out
}

// sawHistories records the users' stored days as a whole read counted
// them.
func (m *Memo) sawHistories(tz string, rows map[userRef]int) {
	m.noteHistories(tz, rows, false)
	if m == nil || len(rows) < minTypical {
		return
	}
	total := map[string][2]int{}
	for u, n := range rows {
		t := total[u.project]
		total[u.project] = [2]int{t[0] + n, t[1] + 1}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for project, t := range total {
		if t[1] >= minTypical {
			m.typical[*m.scope(tz, project, true)] = t[0] / t[1]
		}
	}
}

// estimateHistories sets the typical history of zone tz's users, for
// every project, from the table's statistics when no whole read has set
// one yet: so that a process starting on long histories does not read its
// first chunk's users whole. An estimate only steers how days are read.
func (m *Memo) estimateHistories(ctx context.Context, tx pgx.Tx, tz string) error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	known := m.estimated[tz]
	m.mu.Unlock()
	if known {
		return nil
	}
	// reltuples is -1 until the table was first vacuumed or analyzed.
	var rows float64
	var users, zones int64
	if err := tx.QueryRow(ctx, `SELECT (SELECT reltuples FROM pg_class WHERE oid = 'rollup_user_days'::regclass)::float8,
		(SELECT coalesce(sum(next_uid - 1), 0) FROM rollup_projects)::bigint,
		(SELECT count(*) FROM eventfn_meta.rollup_timezones)`).Scan(&rows, &users, &zones); err != nil {
		return fmt.Errorf("estimate histories: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.estimated[strings.Clone(tz)] = true
	if rows <= 0 || users <= 0 || zones <= 0 {
		return nil
	}
	m.fallback[strings.Clone(tz)] = int(rows / float64(users) / float64(zones))
	return nil
}

// minTypical is the fewest users whose mean history stands for others.
const minTypical = 100

// grewHistories adds days stored for users to what the Memo knows of their
// histories.
func (m *Memo) grewHistories(tz string, added map[userRef]int) {
	m.noteHistories(tz, added, true)
}

func (m *Memo) noteHistories(tz string, rows map[userRef]int, add bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for u, n := range rows {
		k := historyKey{m.scope(tz, u.project, true), u.uid}
		if add {
			old, ok := m.histories.get(k)
			if !ok || n == 0 {
				continue // a history never read stays unknown
			}
			n += int(old)
		}
		m.histories.put(k, uint32(n))
	}
}
