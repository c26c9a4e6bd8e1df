package rollup

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/event"
)

// The feed (rollup_feed) holds the events that are stored but not yet in
// the rollups: the transaction that inserts events writes them there too
// (WriteFeed), one row per project, and a Materializer moves them into
// the rollups in large chunks, deleting the rows it applied in the same
// transaction. A feed row is therefore applied exactly once, and at every
// instant each stored event is in the rollups or in the feed, never in
// both: the rollups are materialized up to a watermark (what the feed no
// longer holds) and stats add the feed's events, the tail past it, to
// what they read (FeedRows, ReadFeedRows).

// FeedEvents is the most events one feed row holds, so that a
// materialization step can take a bounded chunk.
const FeedEvents = 10000

// WriteFeed adds the records of recs that stored marks, just inserted in
// tx, to the feed. It takes no lock that another inserting transaction
// waits for: feed rows are new rows. The rows are encoded straight from
// recs: copying or regrouping a batch's worth of records first cost the
// consumer more than the rest of the feed's write.
func WriteFeed(ctx context.Context, tx pgx.Tx, recs []event.Record, stored []bool) error {
	// A batch is nearly always one project's: the map holds indexes only.
	byProject := map[string][]int{}
	var order []string
	for i := range recs {
		if !stored[i] {
			continue
		}
		p := recs[i].Project
		if _, ok := byProject[p]; !ok {
			order = append(order, p)
		}
		byProject[p] = append(byProject[p], i)
	}
	var rows [][]any
	for _, project := range order {
		idx := byProject[project]
		for off := 0; off < len(idx); off += FeedEvents {
			part := idx[off:min(off+FeedEvents, len(idx))]
			lo, hi := DayOf(recs[part[0]].Time, time.UTC), DayOf(recs[part[0]].Time, time.UTC)
			size := 16
			for _, i := range part {
				r := &recs[i]
				d := DayOf(r.Time, time.UTC)
				lo, hi = min(lo, d), max(hi, d)
				size += len(r.Source) + len(r.Type) + len(r.Subject) + len(r.Props) + 48
			}
			buf := event.RecordsHeader(make([]byte, 0, size), len(part))
			for _, i := range part {
				r := &recs[i]
				// What the rollups need of the event, nothing more.
				buf = event.AppendRecord(buf, &event.Record{Source: r.Source, Type: r.Type, Subject: r.Subject, Time: r.Time, Props: r.Props})
			}
			rows = append(rows, []any{project, int32(lo), int32(hi), int32(len(part)), buf})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"rollup_feed"}, []string{"project", "day_lo", "day_hi", "n", "events"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("write rollup feed: %w", err)
	}
	return nil
}

// decodeFeed reads one feed row's events.
func decodeFeed(project string, b []byte) ([]Event, error) {
	recs, err := event.DecodeRecords(b, project)
	if err != nil {
		return nil, fmt.Errorf("rollup feed: %w", err)
	}
	evs := make([]Event, len(recs))
	for i, r := range recs {
		evs[i] = Event{Project: r.Project, Source: r.Source, Type: r.Type, Subject: r.Subject, Time: r.Time, Props: r.Props}
	}
	return evs, nil
}

// ReadFeedRows returns the events of the feed rows seqs that q's snapshot
// sees, by seq. A stats query lists the rows (FeedRows) and reads both them
// and the rollups in one snapshot, so every stored event is counted once:
// by the rollups or by the feed. A feed row never changes once written,
// so what a row's seq names may be kept (shared/stats keeps it decoded).
func ReadFeedRows(ctx context.Context, q Querier, project string, seqs []int64) (map[int64][]Event, error) {
	out := make(map[int64][]Event, len(seqs))
	if len(seqs) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `SELECT seq, events FROM rollup_feed WHERE seq = ANY($1)`, seqs)
	if err != nil {
		return nil, fmt.Errorf("read rollup feed: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var b []byte // a copy of its own: the decoded texts point into it
		if err := rows.Scan(&seq, &b); err != nil {
			return nil, fmt.Errorf("read rollup feed: %w", err)
		}
		if out[seq], err = decodeFeed(project, b); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rollup feed: %w", err)
	}
	return out, nil
}

// FeedRow is what a stats query needs to know of one feed row before
// reading its events.
type FeedRow struct {
	// Seq identifies it (ReadFeedRows).
	Seq int64
	// Lo and Hi are the UTC days its events span.
	Lo, Hi Day
	// Events counts its events.
	Events int
}

// FeedRows lists the project's feed rows that q's snapshot sees and that
// may hold an event of a UTC day in [dayLo, dayHi]: none means an answer
// over those days needs no tail.
func FeedRows(ctx context.Context, q Querier, project string, dayLo, dayHi Day) ([]FeedRow, error) {
	rows, err := q.Query(ctx, `SELECT seq, day_lo, day_hi, n FROM rollup_feed
		WHERE project = $1 AND day_lo <= $3 AND day_hi >= $2`, project, int32(dayLo), int32(dayHi))
	if err != nil {
		return nil, fmt.Errorf("read rollup feed: %w", err)
	}
	var out []FeedRow
	var seq int64
	var lo, hi, n int32
	if _, err := pgx.ForEachRow(rows, []any{&seq, &lo, &hi, &n}, func() error {
		out = append(out, FeedRow{Seq: seq, Lo: Day(lo), Hi: Day(hi), Events: int(n)})
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read rollup feed: %w", err)
	}
	return out, nil
}

// Backlog is what the feed holds: events not yet in the rollups.
type Backlog struct {
	// Events counts them.
	Events int64
	// Oldest is when the oldest of them was stored (zero when none).
	Oldest time.Time
}

// FeedBacklog returns the feed's size.
func FeedBacklog(ctx context.Context, q Querier) (Backlog, error) {
	rows, err := q.Query(ctx, `SELECT coalesce(sum(n), 0)::bigint, coalesce(min(added_at), 'epoch') FROM rollup_feed`)
	if err != nil {
		return Backlog{}, fmt.Errorf("rollup backlog: %w", err)
	}
	var b Backlog
	_, err = pgx.ForEachRow(rows, []any{&b.Events, &b.Oldest}, func() error { return nil })
	if err != nil {
		return Backlog{}, fmt.Errorf("rollup backlog: %w", err)
	}
	if b.Events == 0 {
		b.Oldest = time.Time{}
	}
	return b, nil
}

// claimFeed locks feed rows no other transaction holds, oldest first, up
// to about maxEvents events (at least one row), and returns their events
// and sequence numbers. The rows stay locked until tx ends, so concurrent
// materializers take disjoint chunks.
//
// It locks about as many rows as its chunk needs, judged from the sizes of
// the oldest rows (read without locks): a row locked and left unused
// would be skipped by every other step until this one ends, so a step
// that locked hundreds of rows to use five left the next step nothing to
// prepare meanwhile (Materializer.Drain).
func claimFeed(ctx context.Context, tx pgx.Tx, maxEvents int) ([]Event, []int64, error) {
	rows, err := tx.Query(ctx, `SELECT n FROM rollup_feed ORDER BY seq LIMIT $1`, max(maxEvents/100, 16))
	if err != nil {
		return nil, nil, fmt.Errorf("claim rollup feed: %w", err)
	}
	want, sum := 0, 0
	var size int32
	if _, err := pgx.ForEachRow(rows, []any{&size}, func() error {
		if want == 0 || sum+int(size) <= maxEvents {
			want++
			sum += int(size)
		}
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("claim rollup feed: %w", err)
	}
	if want == 0 {
		return nil, nil, nil
	}
	rows, err = tx.Query(ctx, `SELECT seq, n FROM rollup_feed ORDER BY seq
		LIMIT $1 FOR UPDATE SKIP LOCKED`, want)
	if err != nil {
		return nil, nil, fmt.Errorf("claim rollup feed: %w", err)
	}
	var seqs []int64
	var seq int64
	var n int32
	total := 0
	if _, err := pgx.ForEachRow(rows, []any{&seq, &n}, func() error {
		if len(seqs) == 0 || total+int(n) <= maxEvents {
			seqs = append(seqs, seq)
			total += int(n)
		}
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("claim rollup feed: %w", err)
	}
	if len(seqs) == 0 {
		return nil, nil, nil
	}
	rows, err = tx.Query(ctx, `SELECT project, events FROM rollup_feed WHERE seq = ANY($1)`, seqs)
	if err != nil {
		return nil, nil, fmt.Errorf("read rollup feed: %w", err)
	}
	defer rows.Close()
	evs := make([]Event, 0, total)
	for rows.Next() {
		v := rows.RawValues()
		part, err := decodeFeed(string(v[0]), slices.Clone(v[1]))
		if err != nil {
			return nil, nil, err
		}
		evs = append(evs, part...)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read rollup feed: %w", err)
	}
	return evs, seqs, nil
}
