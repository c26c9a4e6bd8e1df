package stats

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUserSetsCountTheUsersTheyShare intersects sets of every form (a map
// while small, a bit set once large, ids past the bound it was made for)
// and compares with asking one set about each user of the other.
func TestUserSetsCountTheUsersTheyShare(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	const maxUID = 50_000
	set := func(n int, below uint32) *userSet {
		s := newUserSet(maxUID)
		for range n {
			s.add(1 + r.Uint32N(below))
		}
		return s
	}
	sizes := []int{0, 3, 60, 200, 5_000, 40_000}
	for _, n := range sizes {
		for _, m := range sizes {
			// The second set's ids reach past maxUID: a tail's new users.
			a, b := set(n, maxUID), set(m, 2*maxUID)
			want := 0
			for u := range uint32(2*maxUID + 1) {
				if a.has(u) && b.has(u) {
					want++
				}
			}
			require.Equal(t, want, a.common(b), "sets of %d and %d", n, m)
			require.Equal(t, want, b.common(a), "sets of %d and %d", m, n)
		}
	}
	require.Zero(t, (*userSet)(nil).common(set(10, 100)))
	require.Zero(t, set(10, 100).common(nil))
}
