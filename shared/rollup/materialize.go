package rollup

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultChunk is the events a materialization step takes by default:
// large, because Apply's cost per event falls with the size of its batch
// (one statement per table and zone, whatever the number of events).
const DefaultChunk = 50000

// maxStepAttempts bounds the retries of a step that lost a deadlock or
// serialization race.
const maxStepAttempts = 5

// Materializer moves events from the feed into the rollups (see WriteFeed).
// Any number of Materializers, in one process or many, may run at once:
// each step claims feed rows no other transaction holds, and Apply's lock
// order keeps concurrent steps from deadlocking. Safe for concurrent use.
type Materializer struct {
	pool  *pgxpool.Pool
	chunk int
	// memo spares work that facts stored by earlier steps make needless.
	memo *Memo
	// stepMu runs this Materializer's steps one at a time, so that the
	// memo learns them in the order they committed (histcache.go). Steps
	// apply one at a time anyway (the writer lock).
	stepMu sync.Mutex
	// beforeCommit, when set, runs in each step after the rollups were
	// written and the feed advanced, before the commit (fault drills).
	beforeCommit func()
}

// SetBeforeCommit makes every step call f after writing the rollups and
// advancing the feed, before its commit: fault drills kill the process
// there. Not safe to call while steps run.
func (m *Materializer) SetBeforeCommit(f func()) { m.beforeCommit = f }

// NewMaterializer returns a Materializer on pool taking up to chunk events
// per step (DefaultChunk when chunk < 1).
func NewMaterializer(pool *pgxpool.Pool, chunk int) *Materializer {
	if chunk < 1 {
		chunk = DefaultChunk
	}
	return &Materializer{pool: pool, chunk: chunk, memo: NewMemo()}
}

// Step applies one chunk of the feed to the rollups and removes it from the
// feed, in one transaction: the rollups change and the watermark moves
// together, so a crash at any point loses nothing and counts nothing twice.
// It returns the events applied, 0 when the feed held none that no other
// step holds.
func (m *Materializer) Step(ctx context.Context) (int, error) {
	m.stepMu.Lock()
	defer m.stepMu.Unlock()
	var err error
	for attempt := 0; attempt < maxStepAttempts; attempt++ {
		var n int
		var learned *Learned
		err = pgx.BeginFunc(ctx, m.pool, func(tx pgx.Tx) error {
			evs, seqs, err := claimFeed(ctx, tx, m.chunk)
			if err != nil || len(seqs) == 0 {
				return err
			}
			if learned, err = Apply(ctx, tx, evs, m.memo); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM rollup_feed WHERE seq = ANY($1)`, seqs); err != nil {
				return fmt.Errorf("advance rollup feed: %w", err)
			}
			n = len(evs)
			if m.beforeCommit != nil {
				m.beforeCommit()
			}
			return nil
		})
		if err == nil {
			m.memo.Learn(learned)
			return n, nil
		}
		if !lostRace(err) {
			break
		}
	}
	return 0, fmt.Errorf("materialize rollups: %w", err)
}

// lostRace reports a deadlock or serialization failure: the step is safe to
// retry at once.
func lostRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}
