package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventfn/eventfn/shared/store"
)

// runLockKey is the session advisory lock one archive run holds.
const runLockKey = 0x61726368697665 // "archive"

// dropLockTimeout bounds how long dropping empty partitions may hold up
// inserts waiting behind its lock request.
const dropLockTimeout = time.Second

// projectName is what a project may be (contract §3); anything else would
// not make a safe path segment.
var projectName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Result is what one run did; it is the JSON answer of POST /.
type Result struct {
	// Days are the UTC days (YYYY-MM-DD) some events were archived from,
	// ascending; empty when nothing was old enough.
	Days []string `json:"days"`
	// Rows counts the events archived.
	Rows int64 `json:"rows"`
	// Files are the locations of the files written, in ARCHIVE_URL's form.
	Files []string `json:"files"`
	// OrphansRemoved counts files left by interrupted runs and removed.
	OrphansRemoved int `json:"orphans_removed"`
	// PartitionsDropped names the emptied daily partitions dropped.
	PartitionsDropped []string `json:"partitions_dropped"`
}

// Archiver moves old days of events to a Storage.
type Archiver struct {
	pool    *pgxpool.Pool
	storage Storage
	hotDays int
	log     *slog.Logger
	// now is the clock; tests may move it.
	now func() time.Time
	// beforeCommit, when set, runs after a file is in place and before the
	// transaction deleting its rows commits; an error aborts the run there,
	// as a crash would. Tests only.
	beforeCommit func(name string) error
}

// NewArchiver returns an Archiver keeping hotDays whole UTC days before
// today in PostgreSQL. The schema must be migrated (store.Migrate).
func NewArchiver(pool *pgxpool.Pool, storage Storage, hotDays int, log *slog.Logger) *Archiver {
	return &Archiver{pool: pool, storage: storage, hotDays: hotDays, log: log, now: time.Now}
}

// Cutoff returns the first day kept hot: days before it are archived.
func (a *Archiver) Cutoff() time.Time {
	today := a.now().UTC().Truncate(24 * time.Hour)
	return today.AddDate(0, 0, -a.hotDays)
}

// Run archives every (project, day) older than the cutoff, each in its own
// transaction (see the package doc), after removing orphans of interrupted
// runs, then drops emptied partitions. Runs are serialised across
// processes; a run that returns an error may have archived some days, and
// a rerun finishes the rest without loss or doubling.
func (a *Archiver) Run(ctx context.Context) (Result, error) {
	res := Result{Days: []string{}, Files: []string{}, PartitionsDropped: []string{}}
	conn, err := a.pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("archive: acquire: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(runLockKey)); err != nil {
		return res, fmt.Errorf("archive: lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(runLockKey)); err != nil {
			// Never hand a connection still holding the lock back to the pool.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()

	var instance string
	if err := conn.QueryRow(ctx, "SELECT id FROM eventfn_meta.archive_instance").Scan(&instance); err != nil {
		return res, fmt.Errorf("archive: instance: %w", err)
	}
	n, err := a.removeOrphans(ctx, conn, instance)
	res.OrphansRemoved = n
	if err != nil {
		return res, err
	}

	cutoff := a.Cutoff()
	rows, err := conn.Query(ctx, `
		SELECT project, (time AT TIME ZONE 'UTC')::date AS day
		FROM events WHERE time < $1
		GROUP BY 1, 2 ORDER BY 2, 1`, cutoff)
	if err != nil {
		return res, fmt.Errorf("archive: find days: %w", err)
	}
	type projectDay struct {
		project string
		day     time.Time
	}
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (projectDay, error) {
		var pd projectDay
		err := r.Scan(&pd.project, &pd.day)
		return pd, err
	})
	if err != nil {
		return res, fmt.Errorf("archive: find days: %w", err)
	}
	for _, pd := range todo {
		name, rows, err := a.archiveDay(ctx, conn.Conn(), instance, pd.project, pd.day)
		if err != nil {
			return res, err
		}
		if rows == 0 {
			continue
		}
		day := pd.day.Format(time.DateOnly)
		if !slices.Contains(res.Days, day) {
			res.Days = append(res.Days, day)
		}
		res.Rows += rows
		res.Files = append(res.Files, a.storage.URL(name))
		a.log.Info("archived day", "project", pd.project, "day", day, "rows", rows, "file", name)
	}
	slices.Sort(res.Days)

	dropped, err := store.DropEmptyPartitions(ctx, conn, cutoff, dropLockTimeout)
	if errors.Is(err, store.ErrPartitionsBusy) {
		a.log.Info("empty partitions not dropped", "reason", err.Error())
	} else if err != nil {
		return res, fmt.Errorf("archive: %w", err)
	}
	res.PartitionsDropped = append(res.PartitionsDropped, dropped...)
	return res, nil
}

// archiveDay moves the events of project on day into one new file and
// returns its name and row count (0: nothing was there, no file is left).
func (a *Archiver) archiveDay(ctx context.Context, conn *pgx.Conn, instance, project string, day time.Time) (string, int64, error) {
	if !projectName.MatchString(project) {
		return "", 0, fmt.Errorf("archive: project %q cannot name a directory", project)
	}
	dayStr := day.Format(time.DateOnly)
	var seq int64
	if err := conn.QueryRow(ctx, "SELECT nextval('eventfn_meta.archive_file_seq')").Scan(&seq); err != nil {
		return "", 0, fmt.Errorf("archive %s %s: file number: %w", project, dayStr, err)
	}
	name := path.Join("project="+project, "date="+dayStr, fmt.Sprintf("%s-%012d.parquet", instance, seq))

	tx, err := conn.Begin(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("archive %s %s: begin: %w", project, dayStr, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	var n int64
	size, err := a.storage.Put(ctx, name, func(w io.Writer) error {
		// DELETE ... RETURNING yields exactly the rows it deletes: rows
		// inserted meanwhile are neither deleted nor written.
		rows, err := tx.Query(ctx, `
			WITH gone AS (
				DELETE FROM events
				WHERE project = $1 AND time >= $2 AND time < $3
				RETURNING *)
			SELECT `+selectColumns+` FROM gone ORDER BY time, source, id`,
			project, day, day.AddDate(0, 0, 1))
		if err != nil {
			return fmt.Errorf("delete events: %w", err)
		}
		n, err = writeRows(w, rows)
		return err
	})
	if err != nil {
		return "", 0, fmt.Errorf("archive %s %s: %w", project, dayStr, err)
	}
	if n == 0 {
		if err := a.storage.Remove(ctx, name); err != nil {
			return "", 0, err
		}
		return name, 0, nil
	}
	if a.beforeCommit != nil {
		if err := a.beforeCommit(name); err != nil {
			return "", 0, fmt.Errorf("archive %s %s: %w", project, dayStr, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO eventfn_meta.archive_files (path, project, day, rows, bytes)
		VALUES ($1, $2, $3, $4, $5)`, name, project, day, n, size); err != nil {
		return "", 0, fmt.Errorf("archive %s %s: manifest: %w", project, dayStr, err)
	}
	if err := tx.Commit(ctx); err != nil {
		// Committed or not, the manifest decides: an unlisted file is
		// removed by the next run.
		return "", 0, fmt.Errorf("archive %s %s: commit: %w", project, dayStr, err)
	}
	return name, n, nil
}

// removeOrphans removes this instance's files that the manifest does not
// list (left by a run interrupted before its commit) and its temporary
// files. Other files under the root are never touched.
func (a *Archiver) removeOrphans(ctx context.Context, conn *pgxpool.Conn, instance string) (int, error) {
	names, err := a.storage.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("archive: %w", err)
	}
	var ours []string
	for _, name := range names {
		base := path.Base(name)
		if IsTemp(name) && strings.HasPrefix(base, "."+instance+"-") ||
			strings.HasPrefix(base, instance+"-") && strings.HasSuffix(base, ".parquet") {
			ours = append(ours, name)
		}
	}
	if len(ours) == 0 {
		return 0, nil
	}
	rows, err := conn.Query(ctx, `SELECT path FROM eventfn_meta.archive_files WHERE path = ANY($1)`, ours)
	if err != nil {
		return 0, fmt.Errorf("archive: read manifest: %w", err)
	}
	listed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("archive: read manifest: %w", err)
	}
	isListed := make(map[string]bool, len(listed))
	for _, name := range listed {
		isListed[name] = true
	}
	removed := 0
	for _, name := range ours {
		if isListed[name] {
			continue
		}
		if err := a.storage.Remove(ctx, name); err != nil {
			return removed, err
		}
		a.log.Warn("removed an orphan archive file left by an interrupted run", "file", name)
		removed++
	}
	return removed, nil
}
