package rollup

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
)

// Kinds of rollup_cols rows.
const (
	// ColsType rows hold every event of one type (key = its type id).
	ColsType = 't'
	// ColsProp rows hold the events with one property value (key = its
	// rollup_props id), with their types and positions in the chunk.
	ColsProp = 'p'
)

// MaxChunk is the most events of one chunk: positions are uint16.
const MaxChunk = 1 << 16

// colsColumns are the rollup_cols columns in COPY order.
var colsColumns = []string{"project", "kind", "key", "day", "chunk", "n", "uids", "secs", "sources", "types", "ords"}

// chunksColumns are the rollup_chunks columns in COPY order.
var chunksColumns = []string{"chunk", "project", "day", "n"}

// colEvent is one event as the columns hold it.
type colEvent struct {
	uid, secs, typeID, sourceID uint32
	props                       []int64
}

// colRow is one rollup_cols row.
type colRow struct {
	kind  byte
	key   int64
	uids  []uint32
	secs  []uint32
	srcs  []uint32
	types []uint32
	ords  []uint16
}

// buildCols splits the events of one chunk (at most MaxChunk) into rows:
// one per type and one per property value, sorted by kind and key.
func buildCols(evs []colEvent) []*colRow {
	byKey := map[[2]int64]*colRow{}
	row := func(kind byte, key int64) *colRow {
		k := [2]int64{int64(kind), key}
		r := byKey[k]
		if r == nil {
			r = &colRow{kind: kind, key: key}
			byKey[k] = r
		}
		return r
	}
	for i, e := range evs {
		r := row(ColsType, int64(e.typeID))
		r.uids, r.secs, r.srcs = append(r.uids, e.uid), append(r.secs, e.secs), append(r.srcs, e.sourceID)
		r.ords = append(r.ords, uint16(i))
		for _, p := range e.props {
			r := row(ColsProp, p)
			r.uids, r.secs, r.srcs = append(r.uids, e.uid), append(r.secs, e.secs), append(r.srcs, e.sourceID)
			r.types, r.ords = append(r.types, e.typeID), append(r.ords, uint16(i))
		}
	}
	rows := make([]*colRow, 0, len(byKey))
	for _, r := range byKey {
		rows = append(rows, r)
	}
	sort.Slice(rows, func(a, b int) bool {
		if rows[a].kind != rows[b].kind {
			return rows[a].kind < rows[b].kind
		}
		return rows[a].key < rows[b].key
	})
	return rows
}

// values returns r as a COPY row of rollup_cols.
func (r *colRow) values(project string, day Day, chunk int64) []any {
	var types any
	if r.kind == ColsProp {
		types = EncodeU32(r.types)
	}
	return []any{project, string(rune(r.kind)), r.key, int32(day), chunk, int32(len(r.uids)),
		EncodeU32(r.uids), EncodeU32(r.secs), EncodeU32(r.srcs), types, EncodeU16(r.ords)}
}

// chunkKey is one chunk: a project's events of one UTC day in one call.
type chunkKey struct {
	project string
	day     Day
}

// writeCols appends the events of each chunk to rollup_cols, chunk ids
// from rollup_chunk_id in sorted chunk order. Rows are new: no locks wait.
func writeCols(ctx context.Context, tx pgx.Tx, chunks map[chunkKey][]colEvent) error {
	keys := make([]chunkKey, 0, len(chunks))
	n := 0
	for k, evs := range chunks {
		keys = append(keys, k)
		n += (len(evs) + MaxChunk - 1) / MaxChunk
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].project != keys[b].project {
			return keys[a].project < keys[b].project
		}
		return keys[a].day < keys[b].day
	})
	var ids []int64
	rows, err := tx.Query(ctx, "SELECT nextval('rollup_chunk_id') FROM generate_series(1, $1)", n)
	if err != nil {
		return fmt.Errorf("chunk ids: %w", err)
	}
	ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("chunk ids: %w", err)
	}
	var copyRows, chunkRows [][]any
	for _, k := range keys {
		evs := chunks[k]
		for off := 0; off < len(evs); off += MaxChunk {
			chunk := ids[0]
			ids = ids[1:]
			part := evs[off:min(off+MaxChunk, len(evs))]
			for _, r := range buildCols(part) {
				copyRows = append(copyRows, r.values(k.project, k.day, chunk))
			}
			chunkRows = append(chunkRows, []any{chunk, k.project, int32(k.day), int32(len(part))})
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"rollup_cols"}, colsColumns, pgx.CopyFromRows(copyRows)); err != nil {
		return fmt.Errorf("copy columns: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"rollup_chunks"}, chunksColumns, pgx.CopyFromRows(chunkRows)); err != nil {
		return fmt.Errorf("copy chunks: %w", err)
	}
	return nil
}

// EncodeU32 writes v little-endian, 4 bytes each.
func EncodeU32(v []uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

// EncodeU16 writes v little-endian, 2 bytes each.
func EncodeU16(v []uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}
