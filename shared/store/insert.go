package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup"
)

// maxTxAttempts bounds retries of a batch that lost a deadlock or
// serialization race, or found a partition missing.
const maxTxAttempts = 5

// eventColumns are the events columns InsertEvents writes, in COPY order.
var eventColumns = []string{
	"project", "source", "id", "type", "subject", "time", "received_at",
	"datacontenttype", "dataschema", "props", "data", "extensions",
}

// Store writes events to PostgreSQL.
type Store struct {
	pool *pgxpool.Pool

	mu sync.Mutex
	// partitions caches the UTC days whose partition is known to exist, so
	// the hot path does not ask PostgreSQL for every batch.
	partitions map[time.Time]bool
}

// New returns a Store on pool. The schema must be migrated (Migrate).
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, partitions: map[time.Time]bool{}}
}

// Pool returns the connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// InsertResult tells what InsertRecords stored.
type InsertResult struct {
	// Inserted counts events stored now; Duplicates counts the rest, whose
	// identity was stored before or earlier in the same batch.
	Inserted, Duplicates int
	// New[i] is true when the i-th event was stored by this call.
	New []bool
}

// InsertEvents stores evs as InsertRecords does. An event whose stored form
// cannot be made is a PermanentError.
func (s *Store) InsertEvents(ctx context.Context, evs []*event.Event) (InsertResult, error) {
	recs := make([]event.Record, len(evs))
	for i, e := range evs {
		r, err := event.ToRecord(e)
		if err != nil {
			return InsertResult{New: make([]bool, len(evs))}, &PermanentError{Err: err}
		}
		recs[i] = r
	}
	return s.InsertRecords(ctx, recs)
}

// InsertRecords stores recs at most once each by identity (project, source,
// id), in one transaction: the identities not in event_ids yet go there
// first (in sorted order, so that concurrent batches never deadlock), then
// only those events into events, and into the rollup feed, from which a
// rollup.Materializer moves them into the rollups later. Re-inserting an
// event, with any time, changes nothing. When it returns an error nothing
// was stored; IsPermanent tells whether retrying the same events can ever
// succeed.
func (s *Store) InsertRecords(ctx context.Context, recs []event.Record) (InsertResult, error) {
	res := InsertResult{New: make([]bool, len(recs))}
	if len(recs) == 0 {
		return res, nil
	}
	var lastErr error
	// Identities are copied, which fails if any of them is stored: rare,
	// as ingest and the stream drop most re-sends. After such a failure
	// the batch inserts them with ON CONFLICT instead.
	copyIDs := true
	for attempt := 0; attempt < maxTxAttempts; attempt++ {
		if err := s.ensurePartitions(ctx, recs); err != nil {
			return res, err
		}
		lastErr = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return insertTx(ctx, tx, recs, res.New, copyIDs)
		})
		if lastErr == nil {
			break
		}
		clear(res.New)
		switch sqlState(lastErr) {
		case "40P01", "40001":
			continue
		case "23505":
			copyIDs = false
			continue
		}
		if noPartition(lastErr) { // the cache is stale (archived, dropped)
			s.mu.Lock()
			clear(s.partitions)
			s.mu.Unlock()
			continue
		}
		return res, fmt.Errorf("insert events: %w", lastErr)
	}
	if lastErr != nil {
		return res, fmt.Errorf("insert events after %d attempts: %w", maxTxAttempts, lastErr)
	}
	for _, n := range res.New {
		if n {
			res.Inserted++
		}
	}
	res.Duplicates = len(recs) - res.Inserted
	return res, nil
}

// insertTx writes recs in tx: identities, events, and the feed of the
// rollups.
func insertTx(ctx context.Context, tx pgx.Tx, recs []event.Record, isNew []bool, copyIDs bool) error {
	// The first occurrence of an identity in the batch is the candidate;
	// sorted so every transaction takes identity locks in the same order.
	first := make(map[[3]string]int, len(recs))
	order := make([]int, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		k := [3]string{r.Project, r.Source, r.ID}
		if _, seen := first[k]; !seen {
			first[k] = i
			order = append(order, i)
		}
	}
	sort.Slice(order, func(a, b int) bool {
		ra, rb := &recs[order[a]], &recs[order[b]]
		if ra.Project != rb.Project {
			return ra.Project < rb.Project
		}
		if ra.Source != rb.Source {
			return ra.Source < rb.Source
		}
		return ra.ID < rb.ID
	})
	if err := insertIdentities(ctx, tx, recs, order, first, isNew, copyIDs); err != nil {
		return err
	}
	if !slices.Contains(isNew, true) {
		return nil
	}
	// Rows are made as COPY asks for them: a batch's worth of []any would
	// be garbage at once.
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		for i < len(recs) && !isNew[i] {
			i++
		}
		if i == len(recs) {
			return nil, nil
		}
		r := &recs[i]
		i++
		return []any{
			r.Project, r.Source, r.ID, r.Type, nilIfEmpty(r.Subject), r.Time, r.ReceivedAt,
			nilIfEmpty(r.DataContentType), nilIfEmpty(r.DataSchema), jsonbOrNil(r.Props), r.Data, string(r.Extensions),
		}, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, src); err != nil {
		return fmt.Errorf("copy events: %w", err)
	}
	return rollup.WriteFeed(ctx, tx, recs, isNew)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// insertIdentities stores the identities (sorted; first maps each to its
// row) that event_ids lacks and marks their rows in isNew. With copyIDs it
// copies them all, which costs about half of INSERT … ON CONFLICT but fails
// with 23505 when one is stored already (or by a concurrent batch, once it
// committed); the caller then tries again without copyIDs.
func insertIdentities(ctx context.Context, tx pgx.Tx, recs []event.Record, order []int, first map[[3]string]int, isNew []bool, copyIDs bool) error {
	if copyIDs {
		j := 0
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if j == len(order) {
				return nil, nil
			}
			r := &recs[order[j]]
			j++
			return []any{r.Project, r.Source, r.ID, r.Time}, nil
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"event_ids"}, []string{"project", "source", "id", "time"}, src); err != nil {
			return fmt.Errorf("copy identities: %w", err)
		}
		for _, i := range order {
			isNew[i] = true
		}
		return nil
	}
	projects, sources, ids := make([]string, len(order)), make([]string, len(order)), make([]string, len(order))
	times := make([]time.Time, len(order))
	for j, i := range order {
		r := &recs[i]
		projects[j], sources[j], ids[j], times[j] = r.Project, r.Source, r.ID, r.Time
	}
	got, err := tx.Query(ctx, `
		INSERT INTO event_ids (project, source, id, time)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
		ON CONFLICT DO NOTHING
		RETURNING project, source, id`, projects, sources, ids, times)
	if err != nil {
		return fmt.Errorf("insert identities: %w", err)
	}
	var k [3]string
	_, err = pgx.ForEachRow(got, []any{&k[0], &k[1], &k[2]}, func() error {
		isNew[first[k]] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("insert identities: %w", err)
	}
	return nil
}

// jsonbOrNil passes props as text so COPY's jsonb input parses it; nil
// stays SQL NULL.
func jsonbOrNil(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// ensurePartitions creates the daily partitions the rows need, each in its
// own short transaction outside the insert: creating a partition locks the
// parent table, which must not happen while holding row locks.
func (s *Store) ensurePartitions(ctx context.Context, recs []event.Record) error {
	var missing []time.Time
	s.mu.Lock()
	for i := range recs {
		d := recs[i].Time.Truncate(24 * time.Hour)
		if !s.partitions[d] {
			s.partitions[d] = false
			missing = append(missing, d)
		}
	}
	s.mu.Unlock()
	for _, d := range uniqueDays(missing) {
		if err := s.EnsurePartition(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// EnsurePartition makes sure the partition of the UTC day holding t exists.
func (s *Store) EnsurePartition(ctx context.Context, t time.Time) error {
	d := t.UTC().Truncate(24 * time.Hour)
	if _, err := s.pool.Exec(ctx, "SELECT eventfn_ensure_partition($1::date)", d.Format(time.DateOnly)); err != nil {
		return fmt.Errorf("ensure partition %s: %w", d.Format(time.DateOnly), err)
	}
	s.mu.Lock()
	s.partitions[d] = true
	s.mu.Unlock()
	return nil
}

func uniqueDays(days []time.Time) []time.Time {
	seen := map[time.Time]bool{}
	out := days[:0]
	for _, d := range days {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// PermanentError marks a failure that retrying the same events cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err can never succeed on retry with the same
// events: a data exception or integrity violation from PostgreSQL (SQLSTATE
// classes 22 and 23, but for a missing partition and an identity stored by
// a concurrent batch; a value over one of PostgreSQL's size limits, such as
// an index entry's, 54000; a JSON document too deep for its stack, 54001), or
// an event that cannot be encoded. Connection failures, timeouts and lost
// races are not permanent.
func IsPermanent(err error) bool {
	var pe *PermanentError
	if errors.As(err, &pe) {
		return true
	}
	state := sqlState(err)
	return len(state) == 5 && (state[:2] == "22" || (state[:2] == "23" && state != "23505" && !noPartition(err)) ||
		state == "54000" || state == "54001") // a size limit, a nesting limit: the same every time
}

// noPartition reports whether err is PostgreSQL finding no partition for
// a row. It shares SQLSTATE 23514 with a CHECK constraint, which, unlike
// it, names its constraint.
func noPartition(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && pgErr.ConstraintName == ""
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// IsUnavailable reports whether err means PostgreSQL could not be reached
// or did not answer in time — a passing failure worth a 503 and a retry —
// rather than an answer from the server: no server error at all (a
// connection failure), a deadline or cancellation, a statement timeout
// (57014), a server shutting down (57P01–57P03) or a connection exception
// (class 08).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true
	}
	c := pgErr.Code
	return c == "57014" || c == "57P01" || c == "57P02" || c == "57P03" || c[:2] == "08"
}
