package stats

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/rollup"
)

// TestFoldCacheStaysWithinItsBytes puts folds past the cache's bound, some
// under a shape it holds already (a fold replaced by its extension, or two
// queries folding the same rows at once): what it counts must stay the
// sum of what it holds, and within the bound.
func TestFoldCacheStaysWithinItsBytes(t *testing.T) {
	t.Parallel()
	c := &foldCache{limit: 24 << 10} // a few of these folds, so that it evicts often
	for i := range 2000 {
		// Sizes vary, so that a shape put again may need room made.
		f := newFold(1+i%4, 20_000)
		for k := range 1 + i%4 {
			for u := range uint32(100 + i%200) {
				f.set(k).add(u * 7)
			}
		}
		l := listing(int64(i % 7))
		shape := fmt.Sprint("dau", i%11)
		c.put(shape, shape, l, l.digest(), f, nil, false)
		sum := 0
		for _, e := range c.entries {
			sum += e.size
		}
		require.Equal(t, sum, c.bytes, "after put %d", i)
		questions := map[string]int{}
		for _, e := range c.entries {
			questions[e.question]++
		}
		require.Equal(t, questions, c.questions, "after put %d", i)
		require.LessOrEqual(t, c.bytes, c.limit)
		if f.size() <= c.limit/5 {
			got, lacks, _, _ := c.get(shape, l, l.digest())
			require.Same(t, f, got.fold)
			require.Empty(t, lacks)
		}
	}
	big := newFold(8, 100_000)
	for k := range 8 {
		for u := range uint32(1000) {
			big.set(k).add(u)
		}
	}
	c.put("big", "big", listing(1), sha256.Sum256(nil), big, nil, false)
	got, _, _, _ := c.get("big", listing(1), sha256.Sum256(nil))
	require.Nil(t, got, "a fold over a quarter of the bound is not kept")
}

// TestFoldCacheTellsWhatAKeptFoldLacks keeps a fold over rows and asks
// with listings of more rows, fewer, and others.
func TestFoldCacheTellsWhatAKeptFoldLacks(t *testing.T) {
	t.Parallel()
	c := &foldCache{limit: 1 << 20}
	f := newFold(1, 100)
	f.set(0).add(7)
	c.put("top", "db|shop|top", listing(3), listing(3).digest(), f, []int64{5, 6, 7}, false)

	more := listing(5)
	got, lacks, gone, older := c.get("top", more, more.digest())
	require.Same(t, f, got.fold)
	require.Equal(t, []int{3, 4}, lacks, "the rows it lacks, by index in the listing")
	require.Nil(t, gone)
	require.False(t, older)

	got, _, _, older = c.get("top", listing(2), listing(2).digest())
	require.Nil(t, got, "a row it covers is not listed")
	require.True(t, older, "the listing is a part of what it covers")

	other := listing(4)
	other.keys[0].chunk = 99
	got, lacks, gone, older = c.get("top", other, other.digest())
	require.Same(t, f, got.fold, "a row it covers was replaced: the fold may still serve")
	require.Equal(t, []int{0, 3}, lacks)
	require.Equal(t, []listedRow{{listing(1).keys[0], 1}}, gone, "the row no longer listed")
	require.Equal(t, int64(5), got.shares[gone[0]], "with what it added to its type's count")
	require.False(t, older)

	got, _, _, _ = c.get("dau", listing(3), listing(3).digest())
	require.Nil(t, got, "another shape")
	require.True(t, c.holds("db|shop|top"))
	require.False(t, c.holds("db|blog|top"), "another project's question")

	g := f.extend(200)
	g.set(0).add(150)
	require.False(t, f.sets[0].has(150), "an extension leaves the kept fold as it was")
	require.True(t, g.sets[0].has(7))
}

// listing lists n rows, one chunk each, of days 1 to n.
func listing(n int64) *colListing {
	l := &colListing{instance: "db", project: "shop", kind: 't'}
	for i := range n {
		l.keys = append(l.keys, colKey{instance: "db", kind: 't', key: 1, chunk: i + 1})
		l.days = append(l.days, rollup.Day(i+1))
	}
	return l
}
