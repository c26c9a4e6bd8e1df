package rollup

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// smallChunk is the size under which a chunk is merged with others.
const smallChunk = MaxChunk / 2

// Compact merges the small chunks of each project's UTC days before
// before into chunks of up to MaxChunk events, and returns how many chunks
// it removed. Apply writes one chunk per call and day, a few hundred
// events, so that a day's rows are many and mostly overhead; merged, a
// day takes a few rows per type and property value.
//
// It is safe at any time, from any number of processes: each day is merged
// in its own transaction under a lock of that day (a day another process
// is merging is skipped), Apply only ever adds chunks, and readers see
// either the old chunks or the merged one, never both.
func Compact(ctx context.Context, pool *pgxpool.Pool, before Day) (int, error) {
	rows, err := pool.Query(ctx, `SELECT project, day FROM rollup_chunks WHERE n < $1 AND day < $2
		GROUP BY project, day HAVING count(*) > 1 ORDER BY day, project`, smallChunk, int32(before))
	if err != nil {
		return 0, fmt.Errorf("compact: find days: %w", err)
	}
	var days []chunkKey
	var k chunkKey
	var day int32
	if _, err := pgx.ForEachRow(rows, []any{&k.project, &day}, func() error {
		k.day = Day(day)
		days = append(days, k)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("compact: find days: %w", err)
	}
	removed := 0
	for _, d := range days {
		var n int
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			n, err = compactDay(ctx, tx, d)
			return err
		})
		if err != nil {
			return removed, fmt.Errorf("compact %s %s: %w", d.project, d.day, err)
		}
		removed += n
	}
	return removed, nil
}

func compactDay(ctx context.Context, tx pgx.Tx, d chunkKey) (int, error) {
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext($1), $2)`, d.project, int32(d.day)).Scan(&locked); err != nil || !locked {
		return 0, err
	}
	rows, err := tx.Query(ctx, `SELECT chunk, n FROM rollup_chunks WHERE project = $1 AND day = $2 AND n < $3 ORDER BY chunk`,
		d.project, int32(d.day), smallChunk)
	if err != nil {
		return 0, err
	}
	type chunk struct {
		id int64
		n  int32
	}
	var chunks []chunk
	var c chunk
	if _, err := pgx.ForEachRow(rows, []any{&c.id, &c.n}, func() error {
		chunks = append(chunks, c)
		return nil
	}); err != nil {
		return 0, err
	}
	removed := 0
	for len(chunks) > 1 {
		// The longest run of chunks that fits in one.
		total, end := 0, 0
		for end < len(chunks) && total+int(chunks[end].n) <= MaxChunk {
			total += int(chunks[end].n)
			end++
		}
		group := chunks[:end]
		chunks = chunks[end:]
		if len(group) < 2 {
			continue
		}
		ids := make([]int64, len(group))
		offset := map[int64]uint32{}
		at := uint32(0)
		for i, c := range group {
			ids[i], offset[c.id] = c.id, at
			at += uint32(c.n)
		}
		ok, err := mergeChunks(ctx, tx, d, ids, offset, int32(total))
		if err != nil {
			return removed, err
		}
		if ok {
			removed += len(group)
		}
	}
	return removed, nil
}

// mergeChunks replaces chunks ids by one, positions shifted by offset. It
// leaves chunks alone (false) when a row lacks positions (written before
// type rows had them).
func mergeChunks(ctx context.Context, tx pgx.Tx, d chunkKey, ids []int64, offset map[int64]uint32, total int32) (bool, error) {
	rows, err := tx.Query(ctx, `SELECT chunk, kind::text, key, uids, secs, sources, types, ords FROM rollup_cols WHERE chunk = ANY($1)`, ids)
	if err != nil {
		return false, err
	}
	type key struct {
		kind byte
		key  int64
	}
	merged := map[key]*[5][]byte{}
	var (
		chunk, k                      int64
		kind                          string
		uids, secs, srcs, types, ords []byte
		complete                      = true
	)
	if _, err := pgx.ForEachRow(rows, []any{&chunk, &kind, &k, &uids, &secs, &srcs, &types, &ords}, func() error {
		if ords == nil {
			complete = false
			return nil
		}
		m := merged[key{kind[0], k}]
		if m == nil {
			m = &[5][]byte{}
			merged[key{kind[0], k}] = m
		}
		m[0], m[1], m[2] = append(m[0], uids...), append(m[1], secs...), append(m[2], srcs...)
		if types != nil {
			m[3] = append(m[3], types...)
		}
		for i := 0; i+2 <= len(ords); i += 2 {
			m[4] = binary.LittleEndian.AppendUint16(m[4], binary.LittleEndian.Uint16(ords[i:])+uint16(offset[chunk]))
		}
		return nil
	}); err != nil || !complete {
		return false, err
	}
	var id int64
	if err := tx.QueryRow(ctx, `SELECT nextval('rollup_chunk_id')`).Scan(&id); err != nil {
		return false, err
	}
	lineage, err := lineageOf(ctx, tx, ids)
	if err != nil {
		return false, err
	}
	keys := make([]key, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		return keys[a].kind < keys[b].kind || (keys[a].kind == keys[b].kind && keys[a].key < keys[b].key)
	})
	out := make([][]any, 0, len(keys))
	for _, k := range keys {
		m := merged[k]
		var types any
		if k.kind == ColsProp {
			types = m[3]
		}
		out = append(out, []any{d.project, string(rune(k.kind)), k.key, int32(d.day), id, int32(len(m[0]) / 4), m[0], m[1], m[2], types, m[4]})
	}
	if _, err := tx.Exec(ctx, `DELETE FROM rollup_cols WHERE chunk = ANY($1)`, ids); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM rollup_chunks WHERE chunk = ANY($1)`, ids); err != nil {
		return false, err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"rollup_cols"}, colsColumns, pgx.CopyFromRows(out)); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO rollup_chunks (chunk, project, day, n, merged) VALUES ($1, $2, $3, $4, $5)`, id, d.project, int32(d.day), total, lineage); err != nil {
		return false, err
	}
	return true, nil
}

// maxLineage bounds rollup_chunks.merged: a day of one-event steps merges
// thousands of chunks into one, and the ids are only an aid to readers.
const maxLineage = 4096

// lineageOf returns ids and the chunks they had merged, newest first, at
// most maxLineage of them.
func lineageOf(ctx context.Context, tx pgx.Tx, ids []int64) ([]int64, error) {
	merged, err := Merged(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	out := append(slices.Clone(ids), merged...)
	slices.Sort(out)
	out = slices.Compact(out)
	slices.Reverse(out)
	return out[:min(len(out), maxLineage)], nil
}

// Merged returns the chunks that compactions merged into chunks (and
// into the chunks those replaced), as rollup_chunks.merged names them in
// q's snapshot; chunks a step wrote name none. A chunk may come twice.
func Merged(ctx context.Context, q Querier, chunks []int64) ([]int64, error) {
	rows, err := q.Query(ctx, `SELECT merged FROM rollup_chunks WHERE chunk = ANY($1) AND merged IS NOT NULL`, chunks)
	if err != nil {
		return nil, fmt.Errorf("read merged chunks: %w", err)
	}
	var out, merged []int64
	if _, err := pgx.ForEachRow(rows, []any{&merged}, func() error {
		out = append(out, merged...)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read merged chunks: %w", err)
	}
	return out, nil
}
