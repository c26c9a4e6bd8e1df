package rollup

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
)

// rollup_type_prevs: per (day, type), big-endian int4 pairs (prev, users)
// ascending by prev, no zero users. Apply changes a row by reading it
// locked, merging in Go and writing it back.

type prevKey struct {
	project string
	day     Day
	typeID  uint32
}

// queuePrevLocks queues the statements that make sure every row gaps
// touches exists (an empty placeholder, inserted in key order) and then
// lock them all in key order, returning their pairs. Together they are
// this table's place in Apply's lock order.
func queuePrevLocks(b *pgx.Batch, tz string, gaps map[gapKey]int64) {
	seen := map[prevKey]bool{}
	var p []string
	var day, t []int32
	for k, x := range gaps {
		pk := prevKey{k.project, k.day, k.typeID}
		if x == 0 || seen[pk] {
			continue
		}
		seen[pk] = true
		p, day, t = append(p, k.project), append(day, int32(k.day)), append(t, int32(k.typeID))
	}
	b.Queue(`INSERT INTO rollup_type_prevs (project, tz, day, type_id, pairs)
		SELECT p, $1, d, t, ''::bytea FROM unnest($2::text[], $3::int[], $4::int[]) AS x(p, d, t)
		ORDER BY p, d, t
		ON CONFLICT DO NOTHING`, tz, p, day, t)
	b.Queue(`SELECT r.project, r.day, r.type_id, r.pairs FROM rollup_type_prevs r
		JOIN unnest($2::text[], $3::int[], $4::int[]) AS x(p, d, t) ON r.project = x.p AND r.day = x.d AND r.type_id = x.t
		WHERE r.tz = $1
		ORDER BY r.project, r.day, r.type_id
		FOR UPDATE OF r`, tz, p, day, t)
}

func readPrevs(rows pgx.Rows) (map[prevKey][]byte, error) {
	out := map[prevKey][]byte{}
	var k prevKey
	var day, typeID int32
	var pairs []byte
	_, err := pgx.ForEachRow(rows, []any{&k.project, &day, &typeID, &pairs}, func() error {
		k.day, k.typeID = Day(day), uint32(typeID)
		out[k] = pairs
		return nil
	})
	return out, err
}

// updatePrevs writes current merged with gaps; the rows are locked.
func updatePrevs(ctx context.Context, tx pgx.Tx, tz string, gaps map[gapKey]int64, current map[prevKey][]byte) error {
	counts := map[prevKey]map[Day]int64{}
	for k, x := range gaps {
		if x == 0 {
			continue
		}
		pk := prevKey{k.project, k.day, k.typeID}
		m := counts[pk]
		if m == nil {
			m = map[Day]int64{}
			for _, pr := range DecodePrevs(current[pk]) {
				m[pr.Prev] = pr.Users
			}
			counts[pk] = m
		}
		m[k.prev] += x
	}
	var p []string
	var day, t []int32
	var pairs [][]byte
	for pk, m := range counts {
		p, day, t = append(p, pk.project), append(day, int32(pk.day)), append(t, int32(pk.typeID))
		pairs = append(pairs, encodePrevs(m))
	}
	if _, err := tx.Exec(ctx, `UPDATE rollup_type_prevs r SET pairs = x.v
		FROM unnest($2::text[], $3::int[], $4::int[], $5::bytea[]) AS x(p, d, t, v)
		WHERE r.project = x.p AND r.tz = $1 AND r.day = x.d AND r.type_id = x.t`, tz, p, day, t, pairs); err != nil {
		return fmt.Errorf("write rollups (%s): prevs: %w", tz, err)
	}
	return nil
}

// Prev is one pair of rollup_type_prevs: Users users whose previous active
// day of the row's type, before the row's day, is Prev (NoDay: none).
type Prev struct {
	Prev  Day
	Users int64
}

// DecodePrevs reads a pairs value.
func DecodePrevs(b []byte) []Prev {
	out := make([]Prev, 0, len(b)/8)
	for i := 0; i+8 <= len(b); i += 8 {
		out = append(out, Prev{Day(int32(binary.BigEndian.Uint32(b[i:]))), int64(int32(binary.BigEndian.Uint32(b[i+4:])))})
	}
	return out
}

// UsersBefore sums the users of a pairs value whose prev is before f: the
// row's contribution to the distinct users of a range starting at f.
func UsersBefore(b []byte, f Day) int64 {
	var n int64
	for i := 0; i+8 <= len(b); i += 8 {
		if Day(int32(binary.BigEndian.Uint32(b[i:]))) >= f {
			break
		}
		n += int64(int32(binary.BigEndian.Uint32(b[i+4:])))
	}
	return n
}

func encodePrevs(m map[Day]int64) []byte {
	days := make([]Day, 0, len(m))
	for d, n := range m {
		if n != 0 {
			days = append(days, d)
		}
	}
	sort.Slice(days, func(a, b int) bool { return days[a] < days[b] })
	out := make([]byte, 0, 8*len(days))
	for _, d := range days {
		out = binary.BigEndian.AppendUint32(out, uint32(int32(d)))
		out = binary.BigEndian.AppendUint32(out, uint32(int32(m[d])))
	}
	return out
}
