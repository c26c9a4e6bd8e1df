package stats_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
	"github.com/eventfn/eventfn/shared/store"
)

// bootStats serves the three functions on the database at url.
func bootStats(t *testing.T, url string) map[string]string {
	t.Helper()
	cfg := utcConfig(t, url)
	cfg.RollupTimezones = "UTC,Europe/Kyiv"
	return serveStats(t, cfg)
}

// TestLoaderMatchesInsertEvents: the bulk rollup.Loader, which the stats
// benchmark loads with, must give the answers of the consumer's write
// path (store.InsertEvents, then the materializer's rollup.Apply), on both
// query paths.
func TestLoaderMatchesInsertEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evs := generate(7, 1500)

	applied, pool := migratedDatabase(t, 2)
	s := store.New(pool)
	for off := 0; off < len(evs); off += 100 {
		batch := make([]*event.Event, 0, 100)
		for _, e := range evs[off:min(off+100, len(evs))] {
			batch = append(batch, e.event())
		}
		_, err := s.InsertEvents(ctx, batch)
		require.NoError(t, err)
	}
	rolluptest.Materialize(t, pool)

	loaded, lpool := migratedDatabase(t, 2)
	tx, err := lpool.Begin(ctx)
	require.NoError(t, err)
	loader := rollup.NewLoader(64)
	var revs []rollup.Event
	for _, e := range evs {
		re := rollup.Event{Project: e.project, Source: e.source, ID: e.id, Type: e.typ, Subject: e.subject, Time: e.t}
		if e.contentType == "application/json" && bytes.HasPrefix(e.data, []byte("{")) {
			re.Props = e.data
		}
		revs = append(revs, re)
	}
	require.NoError(t, loader.Add(ctx, tx, revs))
	require.NoError(t, loader.Finish(ctx, tx))
	require.NoError(t, tx.Commit(ctx))

	a, b := bootStats(t, applied), bootStats(t, loaded)
	for _, fn := range functionNames {
		for _, r := range ranges[:2] {
			for _, z := range zonesParam {
				for _, flt := range []string{"", "&prop.plan=pro", "&type=search"} {
					if fn == "stats-retention" && flt == "&type=search" {
						flt = "&start_type=search&return_type=search" // retention refuses type
					}
					q := "/?" + r + z + flt
					x, y := get(t, a[fn]+q, readKey), get(t, b[fn]+q, readKey)
					require.Equal(t, http.StatusOK, x.status, "%s", x.body)
					assert.JSONEq(t, string(x.body), string(y.body), "%s %s", fn, q)
					assert.Equal(t, x.header.Get("X-Stats-Path"), y.header.Get("X-Stats-Path"))
				}
			}
		}
	}
}
