package rollup_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
)

// columns decodes rollup_cols: every event of the type rows, and every
// (property value, event) of the property rows, as text in sorted order.
// It checks that each property row's event, found by chunk and position
// in the type rows, is the same event.
func columns(t *testing.T, pool *pgxpool.Pool) (events, props []string, chunks int) {
	t.Helper()
	type ev struct{ uid, sec, src, typ uint32 }
	byPos := map[[2]int64]ev{}
	rows, err := pool.Query(context.Background(), `SELECT kind::text, key, chunk, uids, secs, sources, types, ords FROM rollup_cols ORDER BY kind DESC`)
	require.NoError(t, err)
	var kind string
	var key, chunk int64
	var uids, secs, srcs, types, ords []byte
	seen := map[int64]bool{}
	_, err = pgx.ForEachRow(rows, []any{&kind, &key, &chunk, &uids, &secs, &srcs, &types, &ords}, func() error {
		seen[chunk] = true
		for i := 0; i < len(uids)/4; i++ {
			e := ev{binary.LittleEndian.Uint32(uids[4*i:]), binary.LittleEndian.Uint32(secs[4*i:]), binary.LittleEndian.Uint32(srcs[4*i:]), uint32(key)}
			pos := [2]int64{chunk, int64(binary.LittleEndian.Uint16(ords[2*i:]))}
			if kind == "t" {
				_, dup := byPos[pos]
				assert.False(t, dup, "two events at one position")
				byPos[pos] = e
				events = append(events, fmt.Sprint(e))
				continue
			}
			e.typ = binary.LittleEndian.Uint32(types[4*i:])
			assert.Equal(t, byPos[pos], e, "property row points at its event")
			props = append(props, fmt.Sprint(key, e))
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(events)
	sort.Strings(props)
	return events, props, len(seen)
}

// TestCompactKeepsEveryEvent merges the small chunks of past days: the
// same events and property values must remain, property rows must still
// point at their events, stats over them must not change, and a chunk
// written afterwards must merge too.
func TestCompactKeepsEveryEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := migrated(t)
	// A chunk of one feed row a step: one small column chunk per batch.
	m := rollup.NewMaterializer(pool, 1)
	evs := genEvents(4, 3000)
	for off := 0; off < len(evs); off += 37 {
		_, err := s.InsertEvents(ctx, evs[off:min(off+37, len(evs))])
		require.NoError(t, err)
		rolluptest.Drain(t, m)
	}
	events, props, chunks := columns(t, pool)
	before := rolluptest.Calendar(t, pool, "UTC")
	ever := map[int64]string{} // every chunk id seen, with its project and day
	checkLineage := lineageChecker(t, pool, ever)
	checkLineage()

	today := rollup.DateDay(2027, 1, 1)
	removed, err := rollup.Compact(ctx, pool, today)
	require.NoError(t, err)
	checkLineage()
	gotEvents, gotProps, gotChunks := columns(t, pool)
	assert.Equal(t, events, gotEvents)
	assert.Equal(t, props, gotProps)
	assert.Positive(t, removed)
	assert.Less(t, gotChunks, chunks/5, "days merged into few chunks")
	var n int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM rollup_chunks").Scan(&n))
	assert.EqualValues(t, gotChunks, n, "rollup_chunks lists every chunk")

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, rollup.Rebuild(ctx, tx, "UTC"))
	assert.Equal(t, before, rolluptest.Calendar(t, tx, "UTC"), "the columns still give the same rollups")
	require.NoError(t, tx.Rollback(ctx))

	again, err := rollup.Compact(ctx, pool, today)
	require.NoError(t, err)
	assert.Zero(t, again, "nothing left to merge")

	// Late events make new small chunks of old days, merged by the next run.
	late := genEvents(5, 200)
	for i, e := range late {
		e.CE.SetID(fmt.Sprintf("late%d", i))
	}
	for off := 0; off < len(late); off += 50 {
		_, err := s.InsertEvents(ctx, late[off:off+50])
		require.NoError(t, err)
		rolluptest.Drain(t, m)
	}
	checkLineage()
	removed, err = rollup.Compact(ctx, pool, today)
	require.NoError(t, err)
	assert.Positive(t, removed)
	checkLineage()
	gotEvents, _, _ = columns(t, pool)
	assert.Len(t, gotEvents, len(events)+len(late))
}

// lineageChecker returns a check that every chunk a compaction removed is
// named by the merged ids of a chunk of the same project and day that
// holds its events now (rollup_chunks.merged, which stats use to keep
// what they folded), and that a chunk names only chunks of its own day
// that are gone. ever gathers the chunks seen by each check.
func lineageChecker(t *testing.T, pool *pgxpool.Pool, ever map[int64]string) func() {
	return func() {
		t.Helper()
		rows, err := pool.Query(context.Background(), `SELECT chunk, project || '/' || day, coalesce(merged, '{}') FROM rollup_chunks`)
		require.NoError(t, err)
		now := map[int64]string{}
		named := map[int64]string{}
		var chunk int64
		var day string
		var merged []int64
		_, err = pgx.ForEachRow(rows, []any{&chunk, &day, &merged}, func() error {
			now[chunk] = day
			for _, m := range merged {
				named[m] = day
			}
			return nil
		})
		require.NoError(t, err)
		for m, day := range named {
			require.Equal(t, ever[m], day, "chunk %d named by a chunk of another day, or never seen", m)
			require.NotContains(t, now, m, "chunk %d named as merged but still there", m)
		}
		for c, day := range ever {
			if _, ok := now[c]; !ok {
				require.Equal(t, day, named[c], "removed chunk %d named by no chunk of its day", c)
			}
		}
		for c, day := range now {
			ever[c] = day
		}
	}
}

// TestCompactWhileMaterializing: compaction merges chunks of days the
// materializer is still adding chunks to (stats compact today's too):
// every event stays in the columns once, property rows still point at
// their events, and a rebuild from the columns gives the rollups the
// materializer made.
func TestCompactWhileMaterializing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := migrated(t)
	m := rollup.NewMaterializer(pool, 1)
	evs := genEventsOf(8, 2500, 120, 5, 2)
	stop := make(chan struct{})
	merged := make(chan int)
	go func() {
		total := 0
		for {
			select {
			case <-stop:
				merged <- total
				return
			case <-time.After(5 * time.Millisecond):
			}
			n, err := rollup.Compact(ctx, pool, rollup.DateDay(2100, 1, 1))
			assert.NoError(t, err)
			total += n
		}
	}()
	for off := 0; off < len(evs); off += 29 {
		_, err := s.InsertEvents(ctx, evs[off:min(off+29, len(evs))])
		require.NoError(t, err)
		rolluptest.Drain(t, m)
	}
	close(stop)
	assert.Positive(t, <-merged, "compaction merged chunks while others were added")
	events, _, _ := columns(t, pool)
	assert.Len(t, events, len(evs), "every event in the columns once")

	made := rolluptest.Calendar(t, pool, "UTC")
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	require.NoError(t, rollup.Rebuild(ctx, tx, "UTC"))
	assert.Equal(t, made, rolluptest.Calendar(t, tx, "UTC"), "the columns give the rollups the materializer made")
}
