package stats

import (
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFoldCacheStaysWithinItsBytes puts folds past the cache's bound, some
// under a key it holds already (two queries folding the same rows at once):
// what it counts must stay the sum of what it holds, and within the bound.
func TestFoldCacheStaysWithinItsBytes(t *testing.T) {
	t.Parallel()
	c := &foldCache{limit: 24 << 10} // a few of these folds, so that it evicts often
	for i := range 2000 {
		// Sizes vary, so that a key put again may need room made.
		f := newFold(1+i%4, 20_000)
		for k := range 1 + i%4 {
			for u := range uint32(100 + i%200) {
				f.set(k).add(u * 7)
			}
		}
		key := foldKey{shape: "dau", rows: sha256.Sum256([]byte{byte(i % 11)})}
		c.put(key, f)
		sum := 0
		for _, e := range c.entries {
			sum += e.size()
		}
		require.Equal(t, sum, c.bytes, "after put %d", i)
		require.LessOrEqual(t, c.bytes, c.limit)
		if f.size() <= c.limit/4 {
			require.Same(t, f, c.get(key))
		}
	}
	big := newFold(8, 100_000)
	for k := range 8 {
		for u := range uint32(1000) {
			big.set(k).add(u)
		}
	}
	c.put(foldKey{shape: "big"}, big)
	require.Nil(t, c.get(foldKey{shape: "big"}), "a fold over a quarter of the bound is not kept")
}
