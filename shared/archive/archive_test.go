package archive

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/event"
)

var errInjected = errors.New("injected crash")

// oldAndHot loads four events on two archivable days (two projects, JSON
// props, text data, an anonymous one, one on the last instant before the
// cutoff) and two hot ones (the cutoff's first instant, now).
func oldAndHot(t *testing.T, h *harness) (archivable []*event.Event, hot []*event.Event) {
	t.Helper()
	d10 := h.cutoff.AddDate(0, 0, -10)
	withExt := newEvent(t, "p", "b1", h.cutoff.Add(-time.Microsecond), "u2", `{"n":1}`)
	withExt.CE.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	archivable = []*event.Event{
		newEvent(t, "p", "a1", d10.Add(time.Hour), "u1", `{"plan":"pro","n":2.5}`),
		newEvent(t, "p", "a2", d10.Add(2*time.Hour), "", "plain text"),
		withExt,
		newEvent(t, "q", "c1", d10.Add(5*time.Hour), "u1", ""),
	}
	hot = []*event.Event{
		newEvent(t, "p", "h1", h.cutoff, "u1", ""),
		newEvent(t, "p", "h2", time.Now(), "u3", `{"x":true}`),
	}
	res := h.insert(t, append(append([]*event.Event{}, archivable...), hot...)...)
	require.Equal(t, 6, res.Inserted)
	return archivable, hot
}

// assertExactlyOnce checks that every event of evs is in exactly one of
// the archive files and no other event is.
func assertExactlyOnce(t *testing.T, h *harness, evs []*event.Event) map[key]Row {
	t.Helper()
	rows, counts, _ := h.archivedRows(t)
	want := map[key]bool{}
	for _, e := range evs {
		k := key{e.Project, e.CE.Source(), e.CE.ID()}
		want[k] = true
		assert.Equal(t, 1, counts[k], "event %v archived exactly once", k)
	}
	for k := range counts {
		assert.True(t, want[k], "unexpected archived event %v", k)
	}
	return rows
}

func TestRunArchivesOldDaysExactly(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testRunArchivesOldDaysExactly)
}

func testRunArchivesOldDaysExactly(t *testing.T, b backend) {
	ctx := context.Background()
	h := newHarness(t, b)
	archivable, hot := oldAndHot(t, h)
	before := h.hotRows(t)
	rollups := h.rollupSnapshot(t)

	res, err := h.arch.Run(ctx)
	require.NoError(t, err)
	d10, d1 := h.cutoff.AddDate(0, 0, -10).Format(time.DateOnly), h.cutoff.AddDate(0, 0, -1).Format(time.DateOnly)
	assert.Equal(t, []string{d10, d1}, res.Days)
	assert.EqualValues(t, 4, res.Rows)
	require.Len(t, res.Files, 3, "one file per (project, day)")
	var stored []string
	for _, name := range h.loc.names(t) {
		stored = append(stored, h.loc.URL(name))
	}
	for _, f := range res.Files {
		assert.Regexp(t, `^`+regexp.QuoteMeta(h.loc.URL("project="))+`(p|q)/date=\d{4}-\d{2}-\d{2}/[0-9a-f]{12}-\d{12}\.parquet$`, f)
		assert.Contains(t, stored, f)
	}
	assert.Contains(t, res.Files[0]+res.Files[1]+res.Files[2], "project=q/date="+d10+"/")
	assert.ElementsMatch(t, []string{"events_p" + strings.ReplaceAll(d10, "-", ""), "events_p" + strings.ReplaceAll(d1, "-", "")}, res.PartitionsDropped)

	// Archived rows are gone from events, hot ones stay; identity stays.
	after := h.hotRows(t)
	assert.Len(t, after, len(hot))
	for _, e := range hot {
		assert.Contains(t, after, key{e.Project, "test", e.CE.ID()})
	}
	assert.Equal(t, 6, h.count(t, "SELECT count(*) FROM event_ids"))
	assert.Equal(t, 3, h.count(t, "SELECT count(*) FROM eventfn_meta.archive_files"))
	assert.Equal(t, 4, h.count(t, "SELECT sum(rows)::int FROM eventfn_meta.archive_files"))

	// Each archived event is in the files once, column for column as stored.
	got := assertExactlyOnce(t, h, archivable)
	for _, e := range archivable {
		k := key{e.Project, "test", e.CE.ID()}
		assert.Equal(t, before[k], got[k], "event %v", k)
	}
	a2 := got[key{"p", "test", "a2"}]
	assert.Nil(t, a2.Subject, "anonymous stays NULL")
	assert.Equal(t, []byte("plain text"), a2.Data)
	assert.Contains(t, got[key{"p", "test", "b1"}].Extensions, "traceparent")

	// What stats read is untouched.
	assert.Equal(t, rollups, h.rollupSnapshot(t))

	// A rerun has nothing to do.
	res, err = h.arch.Run(ctx)
	require.NoError(t, err)
	assert.Empty(t, res.Days)
	assert.Zero(t, res.Rows)
	assert.Empty(t, res.Files)
	assert.Zero(t, res.OrphansRemoved)
	_, _, files := h.archivedRows(t)
	assert.Len(t, files, 3)

	// An archived event sent again is a duplicate: identity outlives the row.
	ins := h.insert(t, newEvent(t, "p", "a1", time.Now(), "u1", ""), archivable[3])
	assert.Equal(t, 0, ins.Inserted)
	assert.Equal(t, 2, ins.Duplicates)
	assert.Len(t, h.hotRows(t), len(hot))
	assert.Equal(t, rollups, h.rollupSnapshot(t))
}

func TestRunAfterCrashBeforeCommitArchivesExactlyOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testRunAfterCrashBeforeCommitArchivesExactlyOnce)
}

func testRunAfterCrashBeforeCommitArchivesExactlyOnce(t *testing.T, b backend) {
	ctx := context.Background()
	h := newHarness(t, b)
	archivable, _ := oldAndHot(t, h)
	rollups := h.rollupSnapshot(t)

	// The first (project, day) commits; the second "crashes" with its file
	// renamed into place and its delete not committed.
	var orphan string
	calls := 0
	h.arch.beforeCommit = func(name string) error {
		calls++
		if calls == 2 {
			orphan = name
			return errInjected
		}
		return nil
	}
	res, err := h.arch.Run(ctx)
	require.ErrorIs(t, err, errInjected)
	// Days go oldest first, projects in order: (p, d-10) with two events
	// committed, then (q, d-10) crashed.
	assert.EqualValues(t, 2, res.Rows, "the first (project, day) committed before the crash")
	assert.Len(t, res.Files, 1)
	require.NotEmpty(t, orphan)
	require.True(t, h.loc.exists(t, orphan), "the crashed run left its file behind")
	assert.Equal(t, 1, h.count(t, "SELECT count(*) FROM eventfn_meta.archive_files"))
	assert.Equal(t, 4, h.count(t, "SELECT count(*) FROM events"), "the crashed day's rows are still hot")

	h.arch.beforeCommit = nil
	res, err = h.arch.Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, res.OrphansRemoved)
	assert.EqualValues(t, 2, res.Rows)
	assert.False(t, h.loc.exists(t, orphan))

	assertExactlyOnce(t, h, archivable)
	assert.Equal(t, 2, h.count(t, "SELECT count(*) FROM events"))
	assert.Equal(t, rollups, h.rollupSnapshot(t))
}

func TestRunLeavesForeignAndTemporaryFilesAlone(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testRunLeavesForeignAndTemporaryFilesAlone)
}

func testRunLeavesForeignAndTemporaryFilesAlone(t *testing.T, b backend) {
	ctx := context.Background()
	h := newHarness(t, b)
	dir := "project=p/date=2020-01-01/"
	var instance string
	require.NoError(t, h.pool.QueryRow(ctx, "SELECT id FROM eventfn_meta.archive_instance").Scan(&instance))
	foreign := []string{dir + "othr00000000-000000000001.parquet", dir + "notes.txt", dir + ".othr00000000-000000000002.parquet.abc.tmp"}
	ours := []string{dir + "." + instance + "-000000000009.parquet.abc.tmp"}
	for _, f := range append(foreign, ours...) {
		h.loc.put(t, f, []byte("x"))
	}
	if s, ok := h.loc.Storage.(*s3Storage); ok {
		// Uploads that a crashed Put never completed are listed as
		// temporary names; only this database's is aborted.
		core := minio.Core{Client: s.client}
		for _, name := range []string{dir + instance + "-000000000010.parquet", dir + "othr00000000-000000000003.parquet"} {
			_, err := core.NewMultipartUpload(ctx, s.bucket, s.key(name), minio.PutObjectOptions{})
			require.NoError(t, err)
		}
		var uploads []string
		for _, name := range h.loc.names(t) {
			if strings.Contains(name, uploadMarker) {
				uploads = append(uploads, name)
			}
		}
		require.Len(t, uploads, 2)
		for _, name := range uploads {
			assert.True(t, IsTemp(name), name)
			if strings.Contains(name, "othr") {
				foreign = append(foreign, name)
			} else {
				ours = append(ours, name)
			}
		}
	}
	res, err := h.arch.Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(ours), res.OrphansRemoved, "only this database's leftovers are removed")
	assert.Equal(t, sorted(foreign), h.loc.names(t))
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestLateEventForArchivedDayIsArchivedByNextRun(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testLateEventForArchivedDayIsArchivedByNextRun)
}

func testLateEventForArchivedDayIsArchivedByNextRun(t *testing.T, b backend) {
	ctx := context.Background()
	h := newHarness(t, b)
	archivable, _ := oldAndHot(t, h)
	_, err := h.arch.Run(ctx)
	require.NoError(t, err)

	// The day's partition was dropped; the late event recreates it.
	d10 := h.cutoff.AddDate(0, 0, -10)
	late := newEvent(t, "p", "late", d10.Add(7*time.Hour), "u9", `{"late":true}`)
	require.Equal(t, 1, h.insert(t, late).Inserted)
	rollups := h.rollupSnapshot(t)

	res, err := h.arch.Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{d10.Format(time.DateOnly)}, res.Days)
	assert.EqualValues(t, 1, res.Rows)
	require.Len(t, res.Files, 1)
	var entries []string
	for _, name := range h.loc.names(t) {
		if strings.HasPrefix(name, "project=p/date="+d10.Format(time.DateOnly)+"/") {
			entries = append(entries, name)
		}
	}
	assert.Len(t, entries, 2, "the late event went into an additional file of its day")
	assertExactlyOnce(t, h, append(archivable, late))
	assert.Equal(t, rollups, h.rollupSnapshot(t))
}

func TestConcurrentRunsDoubleNothing(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testConcurrentRunsDoubleNothing)
}

func testConcurrentRunsDoubleNothing(t *testing.T, b backend) {
	ctx := context.Background()
	h := newHarness(t, b)
	archivable, _ := oldAndHot(t, h)
	var wg sync.WaitGroup
	results := make([]Result, 3)
	errs := make([]error, 3)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = h.arch.Run(ctx) })
	}
	wg.Wait()
	var rows int64
	for i := range results {
		require.NoError(t, errs[i])
		rows += results[i].Rows
	}
	assert.EqualValues(t, len(archivable), rows)
	assertExactlyOnce(t, h, archivable)
}
