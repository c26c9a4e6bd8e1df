package stats

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
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
// asked again over the same stored rows pays only for the tail: while the
// rollups are far behind, the columns answer every query, and folding the
// range's stored events (millions on a large store) was nearly all of an
// unfiltered query's time, the same each time until a materialization
// step or a compaction changes the rows. A fold is a function of its key:
// what was folded (the query's shape: function, zone, buckets, filters)
// and a digest of the exact rows its snapshot listed, which never change
// once written (colCache). Bounded by bytes; when full, entries the map's
// order picks go first. Safe for concurrent use; one per process.
type foldCache struct {
	mu      sync.Mutex
	entries map[foldKey]*fold
	bytes   int
	limit   int
	// made counts the folds built (tests).
	made int
}

type foldKey struct {
	shape string
	rows  [sha256.Size]byte
}

// storedFolds is the process's cache: a fold of a 100 k-user project is
// a few hundred KB (one bit per user and group).
var storedFolds = &foldCache{limit: 32 << 20}

func (c *foldCache) get(k foldKey) *fold {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[k]
}

func (c *foldCache) put(k foldKey, f *fold) {
	size := f.size()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.made++
	if size > c.limit/4 {
		return
	}
	if c.entries == nil {
		c.entries = map[foldKey]*fold{}
	}
	if old, ok := c.entries[k]; ok { // two queries folded the same rows at once
		delete(c.entries, k)
		c.bytes -= old.size()
	}
	for old, e := range c.entries {
		if c.bytes+size <= c.limit {
			break
		}
		delete(c.entries, old)
		c.bytes -= e.size()
	}
	c.entries[k] = f
	c.bytes += size
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
