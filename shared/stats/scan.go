package stats

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/rollup"
)

// selection picks events of one project from rollup_cols.
type selection struct {
	// instance is the database's instance id (colCache).
	instance string
	project  string
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
// UTC day order. The rows come from the process's cache where it holds
// them (colcache.go).
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
	l, err := storedColumns.list(ctx, tx, sel.instance, sel.project, 't', typeKeys(sel), sel.dayLo, sel.dayHi)
	if err != nil {
		return err
	}
	return scanListed(ctx, tx, sel, nd, l, func(_ int, b *batch) { fn(b) })
}

// typeKeys are the keys of sel's type rows: nil for every type.
func typeKeys(sel *selection) []int64 {
	if sel.types == nil {
		return nil
	}
	keys := make([]int64, len(sel.types))
	for i, t := range sel.types {
		keys[i] = int64(t)
	}
	return keys
}

// scanListed is scanTypes over the type rows l lists; fn is given each
// row's events with its index in l.
func scanListed(ctx context.Context, tx pgx.Tx, sel *selection, nd need, l *colListing, fn func(int, *batch)) error {
	cols := colUIDs
	if nd.secs {
		cols |= colSecs
	}
	if sel.hasSource {
		cols |= colSources
	}
	rows, err := storedColumns.fetch(ctx, tx, l, cols)
	if err != nil {
		return err
	}
	var b batch
	for k, r := range rows {
		b.typeID, b.utcDay = uint32(r.key), r.day
		b.uids, b.secs, b.types = b.uids[:0], b.secs[:0], nil
		for i := 0; i+4 <= len(r.uids); i += 4 {
			if sel.hasSource && le32(r.sources[i:]) != sel.source {
				continue
			}
			b.uids = append(b.uids, le32(r.uids[i:]))
			if nd.secs {
				b.secs = append(b.secs, le32(r.secs[i:]))
			}
		}
		fn(k, &b)
	}
	return nil
}

// scanFolded folds what scan gives into a fold (fresh, then add per
// batch) and returns it, or the fold a query of the same shape made over
// the same stored rows, or that fold extended by the rows it lacks
// (foldCache): the caller must not change it. shape names what the fold
// depends on besides sel and the rows (the function, the zone and
// buckets, what add keeps); setsOnly tells that add only adds users to
// sets (an event folded twice changes nothing), else add counts each
// row's events in the group of the row's type (stats-top), which lets a
// fold give back what a row it covers added; fresh must size its sets
// for the snapshot's users. Folds of property filters are not kept: such
// a scan reads several listings, and those queries are not the ones a
// long tail makes slow.
func scanFolded(ctx context.Context, tx pgx.Tx, sel *selection, nd need, shape string, setsOnly bool, fresh func() *fold, add func(*fold, *batch)) (*fold, error) {
	f := fresh()
	if sel.empty() {
		return f, nil
	}
	if len(sel.props) > 0 {
		return f, scanProps(ctx, tx, sel, nd, func(b *batch) { add(f, b) })
	}
	l, err := storedColumns.list(ctx, tx, sel.instance, sel.project, 't', typeKeys(sel), sel.dayLo, sel.dayHi)
	if err != nil {
		return nil, err
	}
	question := questionOf(sel.instance, sel.project, shape)
	shape = fmt.Sprintf("%s|%v|%t %d|%d %d|%v", question, sel.types, sel.hasSource, sel.source, sel.dayLo, sel.dayHi, nd)
	digest := l.digest()
	kept, lacks, gone, older := storedFolds.get(shape, l, digest)
	if kept != nil && len(lacks) == 0 {
		return kept.fold, nil
	}
	if gone != nil {
		if merged, err := keptIfMerged(ctx, tx, gone, l.only(lacks)); err != nil {
			return nil, err
		} else if !merged {
			kept = nil
		}
	}
	// shares[i]: what row i of l added to its type's count.
	var shares []int64
	if !setsOnly {
		shares = make([]int64, len(l.keys))
	}
	rows, at := l, func(i int) int { return i }
	if kept != nil {
		f, rows, at = kept.fold.extend(f.maxUID), l.only(lacks), func(i int) int { return lacks[i] }
		if !setsOnly {
			// The counts the fold keeps, less those of the gone rows,
			// whose events the merged rows bring again.
			for _, r := range gone {
				if k := f.find(uint32(r.key)); k >= 0 {
					f.n[k] -= kept.shares[r]
				}
			}
			for i, k := range l.keys {
				shares[i] = kept.shares[listedRow{k, l.days[i]}]
			}
		}
	}
	err = scanListed(ctx, tx, sel, nd, rows, func(i int, b *batch) {
		if setsOnly {
			add(f, b)
			return
		}
		was := int64(0)
		if k := f.find(b.typeID); k >= 0 {
			was = f.n[k]
		}
		add(f, b)
		if k := f.find(b.typeID); k >= 0 {
			shares[at(i)] = f.n[k] - was
		}
	})
	if err != nil {
		return nil, err
	}
	if !older {
		storedFolds.put(shape, question, l, digest, f, shares, kept != nil)
	}
	return f, nil
}

// keptIfMerged reports whether the rows gone (rows a kept fold covers
// that the query's snapshot no longer lists) were merged into chunks of
// the rows it lacks (rollup.Merged, in the query's snapshot): then the
// lacked rows hold the gone rows' events.
func keptIfMerged(ctx context.Context, tx pgx.Tx, gone []listedRow, lacked *colListing) (bool, error) {
	chunks := make([]int64, len(lacked.keys))
	for i, k := range lacked.keys {
		chunks[i] = k.chunk
	}
	merged, err := rollup.Merged(ctx, tx, chunks)
	if err != nil {
		return false, err
	}
	into := make(map[int64]bool, len(merged))
	for _, c := range merged {
		into[c] = true
	}
	for _, r := range gone {
		if !into[r.chunk] {
			return false, nil
		}
	}
	return true, nil
}

// questionOf names a question asked of one database's project (shape:
// shapeOf) for the fold cache.
func questionOf(instance, project, shape string) string {
	return instance + "|" + project + "|" + shape
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
	cols := colUIDs
	if nd.secs {
		cols |= colSecs
	}
	if sel.hasSource {
		cols |= colSources
	}
	if types != nil || nd.types {
		cols |= colTypes
	}
	if len(others) > 0 {
		cols |= colOrds
	}
	rows, err := storedColumns.read(ctx, tx, sel.instance, sel.project, 'p', sel.props[0], sel.dayLo, sel.dayHi, cols)
	if err != nil {
		return err
	}
	sets := make([][]uint64, len(others))
	var b batch
	var typesBuf []uint32
	for _, r := range rows {
		b.utcDay = r.day
		for j, o := range others {
			sets[j] = o[r.chunk]
		}
		b.uids, b.secs, typesBuf = b.uids[:0], b.secs[:0], typesBuf[:0]
	elements:
		for i, k := 0, 0; i+4 <= len(r.uids); i, k = i+4, k+2 {
			if sel.hasSource && le32(r.sources[i:]) != sel.source {
				continue
			}
			if types != nil && !types[le32(r.types[i:])] {
				continue
			}
			if len(sets) > 0 {
				ord := uint32(binary.LittleEndian.Uint16(r.ords[k:]))
				for _, s := range sets {
					if int(ord>>6) >= len(s) || s[ord>>6]&(1<<(ord&63)) == 0 {
						continue elements
					}
				}
			}
			b.uids = append(b.uids, le32(r.uids[i:]))
			if nd.secs {
				b.secs = append(b.secs, le32(r.secs[i:]))
			}
			if nd.types {
				typesBuf = append(typesBuf, le32(r.types[i:]))
			}
		}
		b.types = nil
		if nd.types {
			b.types = typesBuf
		}
		fn(&b)
	}
	return nil
}

// chunkPositions returns, per chunk, the bit set of positions of events
// holding one of the property values alts.
func chunkPositions(ctx context.Context, tx pgx.Tx, sel *selection, alts []int64) (map[int64][]uint64, error) {
	rows, err := storedColumns.read(ctx, tx, sel.instance, sel.project, 'p', alts, sel.dayLo, sel.dayHi, colOrds)
	if err != nil {
		return nil, err
	}
	out := map[int64][]uint64{}
	for _, r := range rows {
		s := out[r.chunk]
		for k := 0; k+2 <= len(r.ords); k += 2 {
			ord := uint32(binary.LittleEndian.Uint16(r.ords[k:]))
			for int(ord>>6) >= len(s) {
				s = append(s, 0)
			}
			s[ord>>6] |= 1 << (ord & 63)
		}
		out[r.chunk] = s
	}
	return out, nil
}

func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
