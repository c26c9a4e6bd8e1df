package stats

import (
	"maps"
	"math/bits"
	"slices"
)

// userSet is a set of user ids: a map while it is small, a bit set over
// the project's ids once that takes less memory, so that many small sets
// (one per type, say) stay cheap and large ones fast.
type userSet struct {
	small  map[uint32]struct{}
	dense  []uint64
	n      int
	maxUID uint32
}

func newUserSet(maxUID uint32) *userSet {
	return &userSet{small: map[uint32]struct{}{}, maxUID: maxUID}
}

// add puts uid in the set.
func (s *userSet) add(uid uint32) {
	if s.dense != nil {
		w := int(uid >> 6)
		if w >= len(s.dense) {
			s.dense = append(s.dense, make([]uint64, w+1-len(s.dense))...)
		}
		if m := uint64(1) << (uid & 63); s.dense[w]&m == 0 {
			s.dense[w] |= m
			s.n++
		}
		return
	}
	s.small[uid] = struct{}{}
	s.n = len(s.small)
	// A map entry costs some 40 bytes, a bit set maxUID/8 in all.
	if s.n > 64 && s.n*320 > int(s.maxUID) {
		s.dense = make([]uint64, s.maxUID/64+1)
		for u := range s.small {
			if int(u>>6) >= len(s.dense) { // past maxUID: grow as add does
				s.dense = append(s.dense, make([]uint64, int(u>>6)+1-len(s.dense))...)
			}
			s.dense[u>>6] |= 1 << (u & 63)
		}
		s.small = nil
	}
}

// addAll puts every non-zero uid of uids in the set.
func (s *userSet) addAll(uids []uint32) {
	for _, u := range uids {
		if u != 0 {
			s.add(u)
		}
	}
}

// has reports whether uid is in the set.
func (s *userSet) has(uid uint32) bool {
	if s == nil {
		return false
	}
	if s.dense != nil {
		w := int(uid >> 6)
		return w < len(s.dense) && s.dense[w]&(1<<(uid&63)) != 0
	}
	_, ok := s.small[uid]
	return ok
}

// len is the number of users in the set.
func (s *userSet) len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// common returns how many users s and o both hold.
func (s *userSet) common(o *userSet) int {
	if s == nil || o == nil {
		return 0
	}
	if s.dense == nil || o.dense == nil {
		if s.dense != nil || (o.dense == nil && len(o.small) < len(s.small)) {
			s, o = o, s // go through the small one
		}
		n := 0
		for u := range s.small {
			if o.has(u) {
				n++
			}
		}
		return n
	}
	n := 0
	for i := range min(len(s.dense), len(o.dense)) {
		n += bits.OnesCount64(s.dense[i] & o.dense[i])
	}
	return n
}

// clone returns a copy of s for ids up to maxUID (at least s's).
func (s *userSet) clone(maxUID uint32) *userSet {
	return &userSet{small: maps.Clone(s.small), dense: slices.Clone(s.dense), n: s.n, maxUID: max(s.maxUID, maxUID)}
}

// moreUsers is a set of users over a kept one it must not change (a kept
// fold's): it holds the users base lacks.
type moreUsers struct {
	base, more *userSet
}

func newMoreUsers(base *userSet, maxUID uint32) *moreUsers {
	return &moreUsers{base: base, more: newUserSet(maxUID)}
}

func (m *moreUsers) add(uid uint32) {
	if !m.base.has(uid) {
		m.more.add(uid)
	}
}

func (m *moreUsers) addAll(uids []uint32) {
	for _, u := range uids {
		if u != 0 {
			m.add(u)
		}
	}
}

func (m *moreUsers) has(uid uint32) bool {
	if m == nil {
		return false
	}
	return m.base.has(uid) || m.more.has(uid)
}

func (m *moreUsers) len() int {
	if m == nil {
		return 0
	}
	return m.base.len() + m.more.len()
}

// userAdder is a userSet or a moreUsers.
type userAdder interface {
	add(uid uint32)
	addAll(uids []uint32)
}
