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
// Locks, after the caller's identity rows, are always taken in this
// order: the zone list (shared), new names and property values (sorted),
// projects gaining users (sorted), users (sorted), then the counters, zone
// by zone and table by table in key order. Concurrent Apply calls
// therefore wait for each other but never deadlock. An error leaves the
// transaction to be rolled back.
func Apply(ctx context.Context, tx pgx.Tx, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	zones, err := lockZones(ctx, tx)
	if err != nil {
		return err
	}

	names := map[nameKey]uint32{}
	props := make([][]PropValue, len(evs))
	vals := map[propKey]PropValue{}
	users := map[userKey]*userState{}
	for i, e := range evs {
		names[nameKey{e.Project, NameType, e.Type}] = 0
		names[nameKey{e.Project, NameSource, e.Source}] = 0
		props[i] = EventProps(e.Props)
		for _, p := range props[i] {
			vals[propKey{e.Project, string(p.Hash())}] = p
		}
		if e.Subject != "" {
			k := userKey{e.Project, e.Subject}
			if u := users[k]; u == nil {
				users[k] = &userState{first: e.Time}
			} else if e.Time.Before(u.first) {
				u.first = e.Time
			}
		}
	}
	if err := resolveNames(ctx, tx, names); err != nil {
		return err
	}
	propIDs := map[propKey]int64{}
	if len(vals) > 0 {
		if err := resolveProps(ctx, tx, vals, propIDs); err != nil {
			return err
		}
	}
	if len(users) > 0 {
		if err := resolveUsers(ctx, tx, users); err != nil {
			return err
		}
	}

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
		for _, p := range props[i] {
			ce.props = append(ce.props, propIDs[propKey{e.Project, string(p.Hash())}])
		}
		k := chunkKey{e.Project, day}
		chunks[k] = append(chunks[k], ce)
		items[i] = calItem{project: e.Project, uid: uid, typeID: typeID, t: e.Time}
	}
	if err := writeCols(ctx, tx, chunks); err != nil {
		return err
	}
	known := map[userRef]time.Time{}
	for k, u := range users {
		if !u.stored.IsZero() {
			known[userRef{k.project, u.uid}] = u.stored
		}
	}
	for _, z := range zones {
		if err := applyCalendar(ctx, tx, z.name, z.loc, items, known); err != nil {
			return err
		}
	}
	if len(users) > 0 {
		return updateFirstSeen(ctx, tx, users)
	}
	return nil
}
