package rollup

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is one newly stored event as the rollups see it.
type Event struct {
	Project string
	Source  string
	ID      string
	Type    string
	// Subject is the actor; empty for anonymous events.
	Subject string
	Time    time.Time
	// Props is the JSON object of properties, or nil.
	Props []byte
}

// Apply adds evs, all newly inserted in tx, to the rollups: the
// dictionaries (types, sources, property values, users with their first
// event), the columns every stats query can be answered from, and the
// calendar rollups of every registered zone. Called with each event once
// (the caller inserts only new identities), it counts each event once.
//
// memo (nil: none) spares the work that facts already stored make
// needless; the caller passes the returned Learned to memo.Learn once tx
// committed, and drops it otherwise.
//
// Apply first takes the rollups' writer lock (see zonesLockKey) for the
// transaction: Apply calls, however many replicas run them, happen one at
// a time, so each reads the users' stored days and counters knowing that
// nothing else changes them until it commits, and needs no row locks of
// its own. (Other transactions may still add names and property values:
// those are inserted in sorted order with ON CONFLICT.) An error leaves the
// transaction to be rolled back.
func Apply(ctx context.Context, tx pgx.Tx, evs []Event, memo *Memo) (*Learned, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	return applyPrepared(ctx, tx, prepare(evs), memo, nil)
}

// prepared is what Apply works out of its events before it takes the
// writer lock: nothing here depends on what is stored, so a Materializer
// prepares one chunk while another is applied (Step).
type prepared struct {
	evs []Event
	// names holds every type and source, ids unknown (0).
	names map[nameKey]uint32
	// props are each event's property values, vals the values by key.
	props [][]propKey
	vals  map[propKey]PropValue
	// users holds each user's earliest event of evs.
	users map[userKey]*userState
}

// prepare parses evs' properties and gathers their names and users.
func prepare(evs []Event) *prepared {
	p := &prepared{
		evs:   evs,
		names: map[nameKey]uint32{},
		props: make([][]propKey, len(evs)),
		vals:  map[propKey]PropValue{},
		users: map[userKey]*userState{},
	}
	// A batch repeats few values many times: each is hashed once.
	hashes := map[PropValue]string{}
	for i, e := range evs {
		p.names[nameKey{e.Project, NameType, e.Type}] = 0
		p.names[nameKey{e.Project, NameSource, e.Source}] = 0
		for _, v := range EventProps(e.Props) {
			h, ok := hashes[v]
			if !ok {
				h = string(v.Hash())
				hashes[v] = h
			}
			k := propKey{e.Project, h}
			p.vals[k] = v
			p.props[i] = append(p.props[i], k)
		}
		if e.Subject != "" {
			k := userKey{e.Project, e.Subject}
			if u := p.users[k]; u == nil {
				p.users[k] = &userState{first: e.Time}
			} else if e.Time.Before(u.first) {
				u.first = e.Time
			}
		}
	}
	return p
}

// applyPrepared is Apply on events prepare has seen, its phases timed on
// clk (nil: not timed).
func applyPrepared(ctx context.Context, tx pgx.Tx, p *prepared, memo *Memo, clk *clock) (*Learned, error) {
	zones, err := lockZones(ctx, tx)
	if err != nil {
		return nil, err
	}
	version, err := bumpVersion(ctx, tx)
	if err != nil {
		return nil, err
	}
	clk.lap(PhaseLock)
	hist := memo.beginHistories(version)
	evs, names, props, vals, users := p.evs, p.names, p.props, p.vals, p.users
	propIDs := map[propKey]int64{}
	memo.recall(names, vals, propIDs, users)
	if missing := unresolved(names); len(missing) > 0 {
		if err := resolveNames(ctx, tx, missing); err != nil {
			return nil, err
		}
		for k, id := range missing {
			names[k] = id
		}
	}
	if missing := missingProps(vals, propIDs); len(missing) > 0 {
		if err := resolveProps(ctx, tx, missing, propIDs); err != nil {
			return nil, err
		}
	}
	clk.lap(PhaseNames)
	quiet := memo.markQuiet(zones, evs, names, users)
	loud := map[userKey]*userState{}
	for k, u := range users {
		if !u.quiet {
			loud[k] = u
		}
	}
	if len(loud) > 0 {
		if err := resolveUsers(ctx, tx, loud); err != nil {
			return nil, err
		}
	}
	clk.lap(PhaseUsers)
	chunks := map[chunkKey][]colEvent{}
	items := make([]calItem, len(evs))
	for i, e := range evs {
		var uid uint32
		if e.Subject != "" {
			uid = users[userKey{e.Project, e.Subject}].uid
		}
		typeID := names[nameKey{e.Project, NameType, e.Type}]
		day := DayOf(e.Time, time.UTC)
		ce := colEvent{
			uid: uid, typeID: typeID, sourceID: names[nameKey{e.Project, NameSource, e.Source}],
			secs: uint32(e.Time.Unix() - int64(day)*86400),
		}
		for _, k := range props[i] {
			ce.props = append(ce.props, propIDs[k])
		}
		k := chunkKey{e.Project, day}
		chunks[k] = append(chunks[k], ce)
		items[i] = calItem{project: e.Project, uid: uid, typeID: typeID, t: e.Time, quiet: quiet[i]}
	}
	if err := writeCols(ctx, tx, chunks); err != nil {
		return nil, err
	}
	clk.lap(PhaseColumns)
	if len(loud) > 0 {
		if err := updateFirstSeen(ctx, tx, loud); err != nil {
			return nil, err
		}
	}
	if err := logFirstSeen(ctx, tx, version, names, loud); err != nil {
		return nil, err
	}
	clk.lap(PhaseFirstSeen)
	for _, z := range zones {
		if err := applyCalendar(ctx, tx, z.name, z.loc, items, memo, hist, clk); err != nil {
			return nil, err
		}
	}
	l := learned(zones, names, propIDs, loud, items)
	l.hist = hist
	clk.lap(PhaseCalendar)
	return l, nil
}

// unresolved returns the names whose id is not known yet.
func unresolved(names map[nameKey]uint32) map[nameKey]uint32 {
	out := map[nameKey]uint32{}
	for k, id := range names {
		if id == 0 {
			out[k] = 0
		}
	}
	return out
}

// missingProps returns the property values whose id is not known yet.
func missingProps(vals map[propKey]PropValue, ids map[propKey]int64) map[propKey]PropValue {
	out := map[propKey]PropValue{}
	for k, v := range vals {
		if _, ok := ids[k]; !ok {
			out[k] = v
		}
	}
	return out
}

// learned gathers what the transaction stored: every id it used, and the
// users it locked with the activities their events hold in each zone.
func learned(zones []zone, names map[nameKey]uint32, propIDs map[propKey]int64, loud map[userKey]*userState, items []calItem) *Learned {
	l := &Learned{names: names, props: propIDs, users: map[userKey]memoUser{}, facts: map[string][]activityKey{}}
	for k, u := range loud {
		first := u.first
		if u.hasStored && u.stored.Before(first) {
			first = u.stored
		}
		l.users[k] = memoUser{uid: u.uid, first: first}
	}
	for _, z := range zones {
		var acts []activityKey
		for _, it := range items {
			if it.uid == 0 || it.quiet {
				continue
			}
			day := DayOf(it.t, z.loc)
			acts = append(acts, activityKey{it.project, it.uid, it.typeID, day})
		}
		l.facts[z.name] = acts
	}
	return l
}
