package rollup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"
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
// order keeps concurrent steps from deadlocking. Safe for concurrent use:
// concurrent Steps of one Materializer claim and prepare their chunks at
// once and apply them one at a time (Drain runs two so).
type Materializer struct {
	pool  *pgxpool.Pool
	chunk int
	// memo spares work that facts stored by earlier steps make needless.
	memo *Memo
	// applyMu lets one step of this Materializer at a time apply its
	// chunk, commit and teach the memo, so that the memo learns the steps
	// in the order they committed (histcache.go). Steps apply one at a
	// time anyway (the writer lock).
	applyMu sync.Mutex
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
	return m.timedStep(ctx, &StepTimes{})
}

// timedStep is Step, adding the time of each phase of its attempts to
// times.
func (m *Materializer) timedStep(ctx context.Context, times *StepTimes) (int, error) {
	var err error
	for attempt := 0; attempt < maxStepAttempts; attempt++ {
		var n int
		if n, err = m.step(ctx, newClock(times)); err == nil {
			return n, nil
		}
		if !lostRace(err) {
			break
		}
	}
	return 0, fmt.Errorf("materialize rollups: %w", err)
}

// step is one attempt of Step. Claiming and preparing a chunk needs
// neither the writer lock nor the memo, so it runs while another step of
// this Materializer applies its own: Go's part of a chunk (decoding,
// parsing properties) then overlaps PostgreSQL's part of the one before.
// Its phases are timed on clk.
func (m *Materializer) step(ctx context.Context, clk *clock) (int, error) {
	tx, err := m.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	// After a commit this does nothing.
	defer func() { _ = tx.Rollback(ctx) }()
	evs, seqs, err := claimFeed(ctx, tx, m.chunk)
	if err != nil || len(seqs) == 0 {
		return 0, err
	}
	clk.lap(PhaseClaim)
	p := prepare(evs)
	clk.lap(PhasePrepare)
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	clk.lap(PhaseWait)
	learned, err := applyPrepared(ctx, tx, p, m.memo, clk)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM rollup_feed WHERE seq = ANY($1)`, seqs); err != nil {
		return 0, fmt.Errorf("advance rollup feed: %w", err)
	}
	if m.beforeCommit != nil {
		m.beforeCommit()
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	m.memo.Learn(learned)
	clk.lap(PhaseCommit)
	return len(evs), nil
}

// stepsInFlight is how many steps Drain keeps going: two, so that one
// prepares while the other applies; more would only wait.
const stepsInFlight = 2

// claimRetry is how soon a step of Drain that found nothing to claim
// looks again while another step is in flight: the feed grows meanwhile
// under load.
const claimRetry = 50 * time.Millisecond

// Drain runs steps until the feed holds nothing that no other step holds,
// calling done (if not nil; from two goroutines, maybe at once) after
// each with its events and times, and returns the events applied. The
// first error stops it.
//
// A step that finds nothing to claim while the other is in flight looks
// again shortly: it stops only when no step is in flight. (Stopping at
// once left a Drain started on a short feed with one step at a time for
// as long as the feed kept growing: under a sustained load, for good.)
func (m *Materializer) Drain(ctx context.Context, done func(StepDone)) (int, error) {
	g, ctx := errgroup.WithContext(ctx)
	var total atomic.Int64
	var inFlight atomic.Int32
	for range stepsInFlight {
		g.Go(func() error {
			for {
				start := time.Now()
				var times StepTimes
				inFlight.Add(1)
				n, err := m.timedStep(ctx, &times)
				others := inFlight.Add(-1)
				if err != nil {
					return err
				}
				if n == 0 {
					if others == 0 {
						return nil
					}
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(claimRetry):
					}
					continue
				}
				total.Add(int64(n))
				if done != nil {
					done(StepDone{Events: n, Took: time.Since(start), Times: times})
				}
			}
		})
	}
	err := g.Wait()
	return int(total.Load()), err
}

// lostRace reports a deadlock or serialization failure: the step is safe to
// retry at once.
func lostRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}
