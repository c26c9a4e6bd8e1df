package stats

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/eventfn/eventfn/shared/rollup"
)

// fold is what a query made of the stored columns' events, by group (a
// bucket, or a type): their count and their distinct users. A kept fold
// is shared: callers must not change it.
type fold struct {
	n    []int64
	sets []*userSet
	// ids name the groups when they are found as the scan goes (types):
	// group k is of id ids[k], and slot[id]-1 is its group (temp[id -
	// tempIDs]-1 for ids from tempIDs up).
	ids        []uint32
	slot, temp []int32
	// maxUID sizes the groups' user sets.
	maxUID uint32
}

func newFold(groups int, maxUID uint32) *fold {
	return &fold{n: make([]int64, groups), sets: make([]*userSet, groups), maxUID: maxUID}
}

// set returns group k's users, made when first asked for.
func (f *fold) set(k int) *userSet {
	if f.sets[k] == nil {
		f.sets[k] = newUserSet(f.maxUID)
	}
	return f.sets[k]
}

// group returns the group of id, adding one when it has none.
func (f *fold) group(id uint32) int {
	slot, i := &f.slot, int(id)
	if id >= tempIDs { // a type only the tail has
		slot, i = &f.temp, int(id-tempIDs)
	}
	if i >= len(*slot) {
		*slot = append(*slot, make([]int32, i+1-len(*slot))...)
	}
	if (*slot)[i] == 0 {
		f.ids, f.n, f.sets = append(f.ids, id), append(f.n, 0), append(f.sets, nil)
		(*slot)[i] = int32(len(f.ids))
	}
	return int((*slot)[i]) - 1
}

// find returns the group of id, or -1.
func (f *fold) find(id uint32) int {
	slot, i := f.slot, int(id)
	if id >= tempIDs {
		slot, i = f.temp, int(id-tempIDs)
	}
	if i >= len(slot) {
		return -1
	}
	return int(slot[i]) - 1
}

// size is about the bytes f holds.
func (f *fold) size() int {
	n := 16*len(f.n) + 4*len(f.ids) + 4*len(f.slot) + 4*len(f.temp)
	for _, s := range f.sets {
		if s != nil {
			n += 8*len(s.dense) + 40*len(s.small) + 64
		}
	}
	return n
}

// foldCache keeps folds of the stored columns, so that the same question
// asked again pays only for what changed: while the rollups are far
// behind, the columns answer every query, and folding the range's stored
// events (millions on a large store) was nearly all of an unfiltered
// query's time. A fold is a function of what was folded (the query's
// shape: function, zone, buckets, filters) and of the exact rows its
// snapshot listed, which never change once written (colCache). A shape's
// latest fold is kept with the rows it covers: asked over the same rows,
// it is the answer; over those and more (a materialization step added
// chunks, the case under load: a refold of 10 M events took a second
// after every step), a copy of it takes in only the new rows; when rows
// it covers are gone (compaction merged them), a fold of sets alone takes
// in the merged rows the same way (folding an event twice changes no set;
// rollup_chunks.merged tells that they hold the gone rows' events), and
// a fold with counts (stats-top's, one type per row) first gives back
// what each gone row added to its type's count. Sets and counts only grow
// as rows come, so the extended fold is what a fold of all the rows
// gives.
// Bounded by bytes; when full, entries the map's order picks go first.
// Safe for concurrent use; one per process.
type foldCache struct {
	mu      sync.Mutex
	entries map[string]*keptFold
	// questions counts the entries of each question (holds).
	questions map[string]int
	bytes     int
	limit     int
	// made counts the folds built over every listed row, extended those
	// built from a kept fold and the new rows (tests).
	made, extended int
}

// keptFold is a shape's fold and the rows it covers.
type keptFold struct {
	// question is the instance, project and question it answers
	// (holds).
	question string
	fold     *fold
	digest   [sha256.Size]byte
	// shares are the rows covered, each with what it added to its type's
	// count (0 for a fold of sets alone).
	shares map[listedRow]int64
	size   int
}

// listedRow is one row of a colListing.
type listedRow struct {
	colKey
	day rollup.Day
}

// storedFolds is the process's cache: a fold of a 100 k-user project is
// a few hundred KB (one bit per user and group).
var storedFolds = &foldCache{limit: 32 << 20}

// get returns shape's kept fold when it covers only rows l lists, with
// the indexes in l of the rows it lacks (none: the fold is the answer).
// When some rows it covers are not listed, it returns the fold and the
// rows it lacks all the same, with gone those rows: the caller may use
// the fold only if the lacked rows hold their events (a compaction merged
// them), and folding an event twice changes nothing or the gone rows'
// shares are given back. older tells that the kept fold covers every row
// of l and more: l is of an older snapshot, whose fold must not replace
// it.
func (c *foldCache) get(shape string, l *colListing, digest [sha256.Size]byte) (kept *keptFold, lacks []int, gone []listedRow, older bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[shape]
	if e == nil {
		return nil, nil, nil, false
	}
	if e.digest == digest {
		return e, nil, nil, false
	}
	covered := 0
	for i, k := range l.keys {
		if _, ok := e.shares[listedRow{k, l.days[i]}]; ok {
			covered++
		} else {
			lacks = append(lacks, i)
		}
	}
	if covered == len(e.shares) {
		return e, lacks, nil, false
	}
	if len(lacks) == 0 {
		return nil, nil, nil, true
	}
	listed := make(map[listedRow]struct{}, len(l.keys))
	for i, k := range l.keys {
		listed[listedRow{k, l.days[i]}] = struct{}{}
	}
	for r := range e.shares {
		if _, ok := listed[r]; !ok {
			gone = append(gone, r)
		}
	}
	return e, lacks, gone, false
}

// holds reports whether a fold of question (instance|project|shapeOf) is
// kept, over whatever rows.
func (c *foldCache) holds(question string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.questions[question] > 0
}

// drop forgets the entry of shape; c.mu is held.
func (c *foldCache) drop(shape string, e *keptFold) {
	delete(c.entries, shape)
	c.bytes -= e.size
	if c.questions[e.question]--; c.questions[e.question] == 0 {
		delete(c.questions, e.question)
	}
}

// put keeps f as shape's fold over the rows of l, for question (holds),
// with what each row added to its type's count (shares, by index in l;
// nil for a fold of sets alone); extended tells that it was built from a
// kept fold.
func (c *foldCache) put(shape, question string, l *colListing, digest [sha256.Size]byte, f *fold, shares []int64, extended bool) {
	size := f.size() + 64*len(l.keys) + len(shape)
	c.mu.Lock()
	defer c.mu.Unlock()
	if extended {
		c.extended++
	} else {
		c.made++
	}
	if size > c.limit/4 {
		return
	}
	if c.entries == nil {
		c.entries, c.questions = map[string]*keptFold{}, map[string]int{}
	}
	if old, ok := c.entries[shape]; ok {
		c.drop(shape, old)
	}
	for old, e := range c.entries {
		if c.bytes+size <= c.limit {
			break
		}
		c.drop(old, e)
	}
	rows := make(map[listedRow]int64, len(l.keys))
	for i, k := range l.keys {
		rows[listedRow{k, l.days[i]}] = 0
		if shares != nil {
			rows[listedRow{k, l.days[i]}] = shares[i]
		}
	}
	c.entries[shape] = &keptFold{question: question, fold: f, digest: digest, shares: rows, size: size}
	c.questions[question]++
	c.bytes += size
}

// extend returns a copy of f, with sets of maxUID for groups it adds,
// that the caller may change.
func (f *fold) extend(maxUID uint32) *fold {
	g := &fold{n: slices.Clone(f.n), sets: make([]*userSet, len(f.sets)), ids: slices.Clone(f.ids),
		slot: slices.Clone(f.slot), temp: slices.Clone(f.temp), maxUID: max(f.maxUID, maxUID)}
	for k, s := range f.sets {
		if s != nil {
			g.sets[k] = s.clone(g.maxUID)
		}
	}
	return g
}

// digest names the rows of l: the same digest, the same rows.
func (l *colListing) digest() [sha256.Size]byte {
	h := sha256.New()
	buf := make([]byte, 0, 20*len(l.keys)+len(l.instance)+len(l.project)+2)
	buf = append(append(append(buf, l.instance...), 0), l.project...)
	buf = append(buf, 0, l.kind)
	for i, k := range l.keys {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(k.key))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(k.chunk))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(l.days[i]))
	}
	h.Write(buf)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
