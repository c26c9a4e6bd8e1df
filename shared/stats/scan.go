package stats

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/rollup"
)

// selection picks events of one project from rollup_cols.
type selection struct {
	project string
	// types limits events to these type ids; nil means every type.
	types []uint32
	// source limits events to one source id when hasSource.
	source    uint32
	hasSource bool
	// props are ANDed filters, each the ids of its alternative values.
	props [][]int64
	// dayLo and dayHi bound the UTC days read, inclusive.
	dayLo, dayHi rollup.Day
}

// empty reports whether no event can match.
func (s *selection) empty() bool {
	if s.types != nil && len(s.types) == 0 {
		return true
	}
	for _, alts := range s.props {
		if len(alts) == 0 {
			return true
		}
	}
	return s.dayLo > s.dayHi
}

// need says which columns a scan's caller reads besides uids.
type need struct {
	secs, types bool
}

// batch is the matching events of one rollup_cols row, decoded; the
// buffers are reused for the next row.
type batch struct {
	utcDay rollup.Day
	uids   []uint32
	// secs are filled when asked for.
	secs []uint32
	// types are filled when asked for, unless every event of the row has
	// type typeID (a type row): then types is nil.
	types  []uint32
	typeID uint32
}

// scan calls fn with the matching events of each row, rows in ascending
// UTC day order. Only the columns needed are read.
func scan(ctx context.Context, tx pgx.Tx, sel *selection, nd need, fn func(*batch)) error {
	if sel.empty() {
		return nil
	}
	if len(sel.props) == 0 {
		return scanTypes(ctx, tx, sel, nd, fn)
	}
	return scanProps(ctx, tx, sel, nd, fn)
}

func scanTypes(ctx context.Context, tx pgx.Tx, sel *selection, nd need, fn func(*batch)) error {
	cols := []string{"key", "day", "uids", "secs", "sources"}
	if !nd.secs {
		cols[3] = "NULL::bytea"
	}
	if !sel.hasSource {
		cols[4] = "NULL::bytea"
	}
	sql := `SELECT ` + strings.Join(cols, ", ") + ` FROM rollup_cols
		WHERE project = $1 AND kind = 't' AND day BETWEEN $2 AND $3`
	args := []any{sel.project, int32(sel.dayLo), int32(sel.dayHi)}
	if sel.types != nil {
		sql += ` AND key = ANY($4)`
		keys := make([]int64, len(sel.types))
		for i, t := range sel.types {
			keys[i] = int64(t)
		}
		args = append(args, keys)
	}
	rows, err := tx.Query(ctx, sql+` ORDER BY day`, args...)
	if err != nil {
		return fmt.Errorf("read columns: %w", err)
	}
	defer rows.Close()
	var b batch
	for rows.Next() {
		v := rows.RawValues()
		b.typeID, b.utcDay = uint32(be64(v[0])), rollup.Day(be32(v[1]))
		b.uids, b.secs, b.types = b.uids[:0], b.secs[:0], nil
		uids, secs, srcs := v[2], v[3], v[4]
		for i := 0; i+4 <= len(uids); i += 4 {
			if sel.hasSource && le32(srcs[i:]) != sel.source {
				continue
			}
			b.uids = append(b.uids, le32(uids[i:]))
			if nd.secs {
				b.secs = append(b.secs, le32(secs[i:]))
			}
		}
		fn(&b)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read columns: %w", err)
	}
	return nil
}

// scanProps reads the first property filter's rows and, of the others,
// only which positions of which chunks they hold.
func scanProps(ctx context.Context, tx pgx.Tx, sel *selection, nd need, fn func(*batch)) error {
	others := make([]map[int64][]uint64, len(sel.props)-1)
	for i, alts := range sel.props[1:] {
		set, err := chunkPositions(ctx, tx, sel, alts)
		if err != nil {
			return err
		}
		others[i] = set
	}
	var types map[uint32]bool
	if sel.types != nil {
		types = map[uint32]bool{}
		for _, t := range sel.types {
			types[t] = true
		}
	}
	wantTypes := nd.types || types != nil
	cols := []string{"day", "chunk", "uids", "secs", "sources", "types", "ords"}
	for i, off := range []bool{!nd.secs, !sel.hasSource, !wantTypes, len(others) == 0} {
		if off {
			cols[3+i] = "NULL::bytea"
		}
	}
	rows, err := tx.Query(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM rollup_cols
		WHERE project = $1 AND kind = 'p' AND key = ANY($2) AND day BETWEEN $3 AND $4 ORDER BY day`,
		sel.project, sel.props[0], int32(sel.dayLo), int32(sel.dayHi))
	if err != nil {
		return fmt.Errorf("read property columns: %w", err)
	}
	defer rows.Close()
	sets := make([][]uint64, len(others))
	var b batch
	var typesBuf []uint32
	for rows.Next() {
		v := rows.RawValues()
		b.utcDay = rollup.Day(be32(v[0]))
		chunk := int64(be64(v[1]))
		uids, secs, srcs, typs, ords := v[2], v[3], v[4], v[5], v[6]
		for j, o := range others {
			sets[j] = o[chunk]
		}
		b.uids, b.secs, typesBuf = b.uids[:0], b.secs[:0], typesBuf[:0]
	elements:
		for i, k := 0, 0; i+4 <= len(uids); i, k = i+4, k+2 {
			if sel.hasSource && le32(srcs[i:]) != sel.source {
				continue
			}
			if types != nil && !types[le32(typs[i:])] {
				continue
			}
			if len(sets) > 0 {
				ord := uint32(binary.LittleEndian.Uint16(ords[k:]))
				for _, s := range sets {
					if int(ord>>6) >= len(s) || s[ord>>6]&(1<<(ord&63)) == 0 {
						continue elements
					}
				}
			}
			b.uids = append(b.uids, le32(uids[i:]))
			if nd.secs {
				b.secs = append(b.secs, le32(secs[i:]))
			}
			if nd.types {
				typesBuf = append(typesBuf, le32(typs[i:]))
			}
		}
		b.types = nil
		if nd.types {
			b.types = typesBuf
		}
		fn(&b)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read property columns: %w", err)
	}
	return nil
}

// chunkPositions returns, per chunk, the bit set of positions of events
// holding one of the property values alts.
func chunkPositions(ctx context.Context, tx pgx.Tx, sel *selection, alts []int64) (map[int64][]uint64, error) {
	rows, err := tx.Query(ctx, `SELECT chunk, ords FROM rollup_cols
		WHERE project = $1 AND kind = 'p' AND key = ANY($2) AND day BETWEEN $3 AND $4`,
		sel.project, alts, int32(sel.dayLo), int32(sel.dayHi))
	if err != nil {
		return nil, fmt.Errorf("read property positions: %w", err)
	}
	defer rows.Close()
	out := map[int64][]uint64{}
	for rows.Next() {
		v := rows.RawValues()
		chunk := int64(be64(v[0]))
		s := out[chunk]
		for k := 0; k+2 <= len(v[1]); k += 2 {
			ord := uint32(binary.LittleEndian.Uint16(v[1][k:]))
			for int(ord>>6) >= len(s) {
				s = append(s, 0)
			}
			s[ord>>6] |= 1 << (ord & 63)
		}
		out[chunk] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read property positions: %w", err)
	}
	return out, nil
}

func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
