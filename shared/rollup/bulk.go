package rollup

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Loader writes events into the rollups in bulk, bypassing Apply: it
// assigns ids in memory, writes the columns with COPY in chunks of a fixed
// size (as a consumer's batches would), and builds the calendar tables
// once at the end with Rebuild. It is for loading an empty database
// (benchmarks, imports) with nothing else writing; it does not lock.
type Loader struct {
	chunkSize int
	names     map[nameKey]uint32
	props     map[propKey]int64
	propVals  []PropValue
	propKeys  []propKey
	users     map[userKey]*userState
	nextUID   map[string]uint32
	nextChunk int64
	open      map[chunkKey][]colEvent
	rows      [][]any
	chunks    [][]any
}

// NewLoader returns a Loader making chunks of chunkSize events (at most
// MaxChunk).
func NewLoader(chunkSize int) *Loader {
	return &Loader{
		chunkSize: min(max(chunkSize, 1), MaxChunk),
		names:     map[nameKey]uint32{},
		props:     map[propKey]int64{},
		users:     map[userKey]*userState{},
		nextUID:   map[string]uint32{},
		open:      map[chunkKey][]colEvent{},
	}
}

// Add takes events; a chunk is written once it is full.
func (l *Loader) Add(ctx context.Context, tx pgx.Tx, evs []Event) error {
	for _, e := range evs {
		typeID := l.name(e.Project, NameType, e.Type)
		ce := colEvent{typeID: typeID, sourceID: l.name(e.Project, NameSource, e.Source)}
		if e.Subject != "" {
			k := userKey{e.Project, e.Subject}
			u := l.users[k]
			if u == nil {
				l.nextUID[e.Project]++
				u = &userState{uid: l.nextUID[e.Project], first: e.Time}
				l.users[k] = u
			} else if e.Time.Before(u.first) {
				u.first = e.Time
			}
			ce.uid = u.uid
		}
		day := DayOf(e.Time, time.UTC)
		ce.secs = uint32(e.Time.Unix() - int64(day)*86400)
		for _, p := range EventProps(e.Props) {
			k := propKey{e.Project, string(p.Hash())}
			id, ok := l.props[k]
			if !ok {
				id = int64(len(l.propVals) + 1)
				l.props[k] = id
				l.propVals, l.propKeys = append(l.propVals, p), append(l.propKeys, k)
			}
			ce.props = append(ce.props, id)
		}
		ck := chunkKey{e.Project, day}
		l.open[ck] = append(l.open[ck], ce)
		if len(l.open[ck]) == l.chunkSize {
			l.close(ck)
		}
	}
	if len(l.rows) >= 100_000 {
		return l.flush(ctx, tx)
	}
	return nil
}

func (l *Loader) name(project string, kind byte, name string) uint32 {
	k := nameKey{project, kind, name}
	id, ok := l.names[k]
	if !ok {
		id = uint32(len(l.names) + 1)
		l.names[k] = id
	}
	return id
}

func (l *Loader) close(ck chunkKey) {
	l.nextChunk++
	for _, r := range buildCols(l.open[ck]) {
		l.rows = append(l.rows, r.values(ck.project, ck.day, l.nextChunk))
	}
	l.chunks = append(l.chunks, []any{l.nextChunk, ck.project, int32(ck.day), int32(len(l.open[ck]))})
	delete(l.open, ck)
}

func (l *Loader) flush(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"rollup_cols"}, colsColumns, pgx.CopyFromRows(l.rows)); err != nil {
		return fmt.Errorf("load columns: %w", err)
	}
	l.rows = l.rows[:0]
	return nil
}

// Finish writes the last chunks and the dictionaries, moves the id
// sequences past the ids used, and rebuilds every registered zone.
func (l *Loader) Finish(ctx context.Context, tx pgx.Tx) error {
	keys := make([]chunkKey, 0, len(l.open))
	for k := range l.open {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		return keys[a].project < keys[b].project || (keys[a].project == keys[b].project && keys[a].day < keys[b].day)
	})
	for _, k := range keys {
		l.close(k)
	}
	if err := l.flush(ctx, tx); err != nil {
		return err
	}
	var names, props, users, projects [][]any
	for k, id := range l.names {
		names = append(names, []any{k.project, string(rune(k.kind)), k.name, int32(id)})
	}
	for i, p := range l.propVals {
		props = append(props, []any{l.propKeys[i].project, []byte(l.propKeys[i].hash), int64(i + 1), p.Key, p.Value})
	}
	for k, u := range l.users {
		users = append(users, []any{k.project, k.subject, int32(u.uid), u.first})
	}
	for p, n := range l.nextUID {
		projects = append(projects, []any{p, int32(n + 1)})
	}
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"rollup_names", []string{"project", "kind", "name", "id"}, names},
		{"rollup_props", []string{"project", "hash", "id", "key", "value"}, props},
		{"rollup_users", []string{"project", "subject", "uid", "first_seen"}, users},
		{"rollup_projects", []string{"project", "next_uid"}, projects},
		{"rollup_chunks", chunksColumns, l.chunks},
	} {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return fmt.Errorf("load %s: %w", c.table, err)
		}
	}
	for seq, last := range map[string]int64{"rollup_name_id": int64(len(l.names)), "rollup_prop_id": int64(len(l.propVals)), "rollup_chunk_id": l.nextChunk} {
		if last > 0 {
			if _, err := tx.Exec(ctx, "SELECT setval($1, $2)", seq, last); err != nil {
				return fmt.Errorf("load: %s: %w", seq, err)
			}
		}
	}
	zones, err := Timezones(ctx, tx)
	if err != nil {
		return err
	}
	for _, z := range zones {
		if err := Rebuild(ctx, tx, z); err != nil {
			return err
		}
	}
	return nil
}
