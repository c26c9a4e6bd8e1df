package stats_test

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/stats"
)

// TestColumnCacheReadsOnlyRowsItHasNotMet holds what a stats process keeps
// of rollup_cols to what the table holds in each query's snapshot, as
// materialization steps add chunks and compaction replaces them, and
// checks that a row once read is not read again (the point of keeping
// them) and that a small cache stays within its bound.
func TestColumnCacheReadsOnlyRowsItHasNotMet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixtureOrdered(t, 3000, true)
	lo, hi := rollup.DayOf(dataStart, time.UTC), rollup.DayOf(dataStart, time.UTC)+dataDays
	inSnapshot := func(fn func(tx pgx.Tx)) {
		t.Helper()
		require.NoError(t, pgx.BeginTxFunc(ctx, f.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
			func(tx pgx.Tx) error { fn(tx); return nil }))
	}
	// stored reads the table itself, independently of the cache.
	stored := func(tx pgx.Tx, kind string) []stats.ColumnRow {
		rows, err := tx.Query(ctx, `SELECT key, day, chunk, uids, secs, sources, coalesce(types, ''), coalesce(ords, '')
			FROM rollup_cols WHERE project = 'shop' AND kind = $1::text::"char" AND day BETWEEN $2 AND $3`, kind, int32(lo), int32(hi))
		require.NoError(t, err)
		var out []stats.ColumnRow
		var r stats.ColumnRow
		var day int32
		_, err = pgx.ForEachRow(rows, []any{&r.Key, &day, &r.Chunk, &r.Uids, &r.Secs, &r.Sources, &r.Types, &r.Ords}, func() error {
			r.Day = rollup.Day(day)
			out = append(out, r)
			return nil
		})
		require.NoError(t, err)
		return out
	}
	same := func(want, got []stats.ColumnRow, msg string) {
		t.Helper()
		assert.True(t, slices.IsSortedFunc(got, func(a, b stats.ColumnRow) int { return cmp.Compare(a.Day, b.Day) }), msg+": in day order")
		order := func(a, b stats.ColumnRow) int {
			return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Chunk, b.Chunk))
		}
		slices.SortFunc(want, order)
		got = slices.Clone(got)
		slices.SortFunc(got, order)
		require.Equal(t, len(want), len(got), msg+": rows")
		for i := range want {
			w, g := want[i], got[i]
			require.True(t, w.Key == g.Key && w.Day == g.Day && w.Chunk == g.Chunk &&
				bytes.Equal(w.Uids, g.Uids) && bytes.Equal(w.Secs, g.Secs) && bytes.Equal(w.Sources, g.Sources) &&
				bytes.Equal(w.Types, g.Types) && bytes.Equal(w.Ords, g.Ords), "%s: row %d: want %+v, got %+v", msg, i, w, g)
		}
	}

	c := stats.NewColumnCache(64 << 20)
	small := stats.NewColumnCache(0)
	check := func(msg string) (rows int) {
		t.Helper()
		inSnapshot(func(tx pgx.Tx) {
			for _, kind := range []string{"t", "p"} {
				want := stored(tx, kind)
				require.NotEmpty(t, want, msg)
				got, err := c.Read(ctx, tx, "shop", kind[0], lo, hi)
				require.NoError(t, err)
				same(want, got, msg+" "+kind)
				rows += len(got)
			}
		})
		return rows
	}

	n := check("cold")
	assert.Equal(t, n, c.Fetched(), "a cold cache reads every row once")
	check("again")
	assert.Equal(t, n, c.Fetched(), "nothing changed: nothing read again")

	m := rollup.NewMaterializer(f.pool, 300)
	for step := range 3 {
		before := c.Fetched()
		applied, err := m.Step(ctx)
		require.NoError(t, err)
		require.Positive(t, applied)
		grown := check("after a step")
		assert.Less(t, c.Fetched()-before, grown/2, "step %d: only the new chunks are read", step)
		assert.Positive(t, c.Fetched()-before, "step %d: the new chunks are read", step)
	}

	removed, err := rollup.Compact(ctx, f.pool, rollup.DateDay(2027, 1, 1))
	require.NoError(t, err)
	require.Positive(t, removed, "compaction replaced chunks")
	check("after compaction")

	// A scan that needs the user ids alone reads and keeps those alone;
	// one that needs more reads each row again, and both are then kept.
	ids := stats.NewColumnCache(64 << 20)
	inSnapshot(func(tx pgx.Tx) {
		want := stored(tx, "t")
		got, err := ids.ReadColumns(ctx, tx, "shop", 't', lo, hi, "uids")
		require.NoError(t, err)
		require.Len(t, got, len(want))
		byRow := map[[3]int64]stats.ColumnRow{}
		for _, w := range want {
			byRow[[3]int64{w.Key, int64(w.Day), w.Chunk}] = w
		}
		for _, g := range got {
			w, ok := byRow[[3]int64{g.Key, int64(g.Day), g.Chunk}]
			require.True(t, ok, "row %+v", g)
			assert.Equal(t, w.Uids, g.Uids)
			assert.True(t, len(g.Secs)+len(g.Sources)+len(g.Types)+len(g.Ords) == 0, "only what was asked for is read")
		}
		assert.Equal(t, len(want), ids.Fetched())
		idsOnly := ids.Bytes()

		got, err = ids.Read(ctx, tx, "shop", 't', lo, hi)
		require.NoError(t, err)
		same(want, got, "every column after the ids")
		assert.Equal(t, 2*len(want), ids.Fetched(), "rows read again for the columns they lacked")
		more := 0
		for _, w := range want {
			more += len(w.Secs) + len(w.Sources) + len(w.Types) + len(w.Ords)
		}
		assert.Equal(t, idsOnly+more, ids.Bytes(), "each row kept once, now with every column")

		got, err = ids.ReadColumns(ctx, tx, "shop", 't', lo, hi, "uids", "secs")
		require.NoError(t, err)
		same(want, got, "the ids and seconds, kept")
		assert.Equal(t, 2*len(want), ids.Fetched(), "nothing read again")
	})

	// A cache too small to keep a row answers the same, from the table.
	for i := range 2 {
		inSnapshot(func(tx pgx.Tx) {
			got, err := small.Read(ctx, tx, "shop", 't', lo, hi)
			require.NoError(t, err)
			same(stored(tx, "t"), got, "small cache")
		})
		assert.Zero(t, small.Bytes(), "pass %d", i)
	}
	// One holding a third of the rows keeps to its bound.
	whole := stats.NewColumnCache(64 << 20)
	inSnapshot(func(tx pgx.Tx) {
		_, err := whole.Read(ctx, tx, "shop", 't', lo, hi)
		require.NoError(t, err)
	})
	limit := whole.Bytes() / 3
	bounded := stats.NewColumnCache(limit)
	for range 3 {
		inSnapshot(func(tx pgx.Tx) {
			got, err := bounded.Read(ctx, tx, "shop", 't', lo, hi)
			require.NoError(t, err)
			same(stored(tx, "t"), got, "bounded cache")
		})
		assert.LessOrEqual(t, bounded.Bytes(), limit)
		assert.Positive(t, bounded.Bytes())
	}
}
