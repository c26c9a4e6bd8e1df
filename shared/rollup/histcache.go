package rollup

import (
	"slices"
)

// The Memo also keeps users' whole histories (every stored (type, day) of
// rollup_user_days, per zone) that it read or built, so that a user who
// comes back needs no read at all. Unlike its facts, a history can be
// made stale by another writer: another replica's materializer, or a
// rebuild. So the histories are exact as of one count of the rollups'
// changes (rollup_version), and an Apply uses them only when the count it
// bumps from is that one, which means no one else changed the rollups
// since this Memo's last committed Apply. With one materializer that is
// always; with several, a replica uses them when it applied the chunk
// before too, and throws them away otherwise. The Materializer runs its
// steps one at a time, so that its Learns come in the order of its
// commits.

// histCap bounds the rows the Memo's histories hold (8 bytes each): past
// it they are all dropped and built again from reads.
const histCap = 1 << 23

// histRow encodes one stored (type, day) so that the encoded rows sort as
// (type, day).
func histRow(typeID uint32, day Day) uint64 {
	return uint64(typeID)<<32 | uint64(uint32(day)^1<<31)
}

// history is one user's stored rows in one zone, in histRow's encoding,
// ascending. Never changed once made: a new day makes a new slice.
type history []uint64

// daysOf returns the days of typeID, ascending.
func (h history) daysOf(typeID uint32) []Day {
	lo, _ := slices.BinarySearch(h, uint64(typeID)<<32)
	hi, _ := slices.BinarySearch(h, uint64(typeID+1)<<32)
	if lo == hi {
		return nil
	}
	days := make([]Day, hi-lo)
	for i, r := range h[lo:hi] {
		days[i] = Day(int32(uint32(r) ^ 1<<31))
	}
	return days
}

// histStep is what one Apply knows of and adds to the Memo's histories,
// for Memo.Learn once it committed.
type histStep struct {
	// version is the count of changes Apply's transaction made; valid says
	// the Memo's histories were exact at version-1.
	version int64
	valid   bool
	// whole are the histories Apply read whole, fresh the rows it added,
	// by zone and user.
	whole, fresh map[zoneUser][]uint64
}

type zoneUser struct {
	tz string
	u  userRef
}

// beginHistories starts an Apply's use of the histories; version is the
// count its transaction made.
func (m *Memo) beginHistories(version int64) *histStep {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return &histStep{
		version: version, valid: m.histVersion == version-1,
		whole: map[zoneUser][]uint64{}, fresh: map[zoneUser][]uint64{},
	}
}

// knownHistories returns the histories of touched users in zone tz that
// the Memo holds exactly as the rollups were before h's Apply.
func (m *Memo) knownHistories(h *histStep, tz string, touched map[userRef]int) map[userRef]history {
	out := map[userRef]history{}
	if m == nil || h == nil || !h.valid {
		return out
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for u := range touched {
		if p := m.scope(tz, u.project, false); p != nil {
			if rows, ok := m.hist[historyKey{p, u.uid}]; ok {
				out[u] = rows
			}
		}
	}
	return out
}

// read records the whole history of a user that Apply read.
func (h *histStep) read(tz string, u userRef, rows []uint64) {
	if h != nil {
		h.whole[zoneUser{tz, u}] = rows
	}
}

// added records the days of one group that Apply stored.
func (h *histStep) added(tz string, k groupKey, days []Day) {
	if h == nil || len(days) == 0 {
		return
	}
	zu := zoneUser{tz, userRef{k.project, k.uid}}
	for _, d := range days {
		h.fresh[zu] = append(h.fresh[zu], histRow(k.typeID, d))
	}
}

// learnHistories brings the histories to h's version; m.mu is held.
func (m *Memo) learnHistories(h *histStep) {
	if h == nil {
		return
	}
	if !h.valid || h.version-1 != m.histVersion {
		clear(m.hist)
		m.histRows = 0
	}
	put := func(k historyKey, rows []uint64) {
		m.histRows += len(rows) - len(m.hist[k])
		m.hist[k] = rows
	}
	for zu, add := range h.fresh {
		if _, read := h.whole[zu]; read {
			continue
		}
		k := historyKey{m.scope(zu.tz, zu.u.project, true), zu.u.uid}
		if old, ok := m.hist[k]; ok {
			put(k, mergeRows(old, add))
		}
	}
	for zu, rows := range h.whole {
		put(historyKey{m.scope(zu.tz, zu.u.project, true), zu.u.uid}, mergeRows(rows, h.fresh[zu]))
	}
	m.histVersion = h.version
	if m.histRows > histCap {
		clear(m.hist)
		m.histRows = 0
	}
}

// mergeRows returns old (ascending) with add, in a new slice, ascending.
func mergeRows(old, add []uint64) []uint64 {
	out := make([]uint64, 0, len(old)+len(add))
	out = append(append(out, old...), add...)
	slices.Sort(out)
	return slices.Compact(out)
}
