package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

func migratedStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: testenv.Database(t), DatabaseMaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, store.Migrate(ctx, pool))
	return store.New(pool)
}

func newEvent(t *testing.T, project, id string, at time.Time, data string) *event.Event {
	t.Helper()
	ce := cloudevents.New()
	ce.SetID(id)
	ce.SetSource("test")
	ce.SetType("page_view")
	ce.SetSubject("user-1")
	ce.SetTime(at)
	if data != "" {
		require.NoError(t, ce.SetData(cloudevents.ApplicationJSON, []byte(data)))
	}
	return &event.Event{Project: project, CE: ce, ReceivedAt: time.Now()}
}

func countEvents(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM events").Scan(&n))
	return n
}

func TestInsertEventsStoresEachIdentityOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migratedStore(t)
	now := time.Now().UTC()

	res, err := s.InsertEvents(ctx, []*event.Event{
		newEvent(t, "p", "a", now, `{"plan":"pro"}`),
		newEvent(t, "p", "b", now, ""),
		newEvent(t, "p", "a", now.Add(time.Minute), ""), // same identity in the batch
		newEvent(t, "q", "a", now, ""),                  // same id, other project
	})
	require.NoError(t, err)
	assert.Equal(t, 3, res.Inserted)
	assert.Equal(t, 1, res.Duplicates)
	assert.Equal(t, []bool{true, true, false, true}, res.New)

	// Re-sent later with another time (60 days back): still stored once.
	res, err = s.InsertEvents(ctx, []*event.Event{
		newEvent(t, "p", "a", now.AddDate(0, 0, -60), ""),
		newEvent(t, "p", "c", now.AddDate(0, 0, -60), ""),
	})
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true}, res.New)
	assert.Equal(t, 4, countEvents(t, s.Pool()))

	var exts string
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT extensions::text FROM events WHERE project='p' AND id='b'").Scan(&exts))
	assert.Equal(t, "{}", exts, "no extensions is an empty object, not JSON null")
	var props string
	require.NoError(t, s.Pool().QueryRow(ctx,
		"SELECT props->>'plan' FROM events WHERE project='p' AND id='a'").Scan(&props))
	assert.Equal(t, "pro", props, "the first stored version is kept")
	var late int
	require.NoError(t, s.Pool().QueryRow(ctx,
		"SELECT count(*) FROM events WHERE id='c' AND time < now() - interval '59 days'").Scan(&late))
	assert.Equal(t, 1, late, "a 60-day-old event lands in an on-demand partition")
}

// TestConcurrentBatchesSharingIdentitiesStoreEachOnce races batches that
// overlap in identities, as replicas do with a redelivered message: a
// batch that finds an identity stored by another meanwhile is retried,
// and every identity ends stored once, counted inserted by exactly one
// batch, its event once in the rollups' columns.
func TestConcurrentBatchesSharingIdentitiesStoreEachOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migratedStore(t)
	now := time.Now().UTC().Truncate(time.Second)
	const distinct, workers, rounds = 400, 6, 4
	evs := make([]*event.Event, distinct)
	for i := range evs {
		evs[i] = newEvent(t, "p", fmt.Sprintf("e%03d", i), now.Add(-time.Duration(i)*time.Minute), "")
	}
	var inserted atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				// Half of the identities, in an order of this worker's.
				batch := make([]*event.Event, 0, distinct/2)
				for _, i := range r.Perm(distinct)[:distinct/2] {
					batch = append(batch, evs[i])
				}
				res, err := s.InsertEvents(ctx, batch)
				if !assert.NoError(t, err) {
					return
				}
				inserted.Add(int64(res.Inserted))
			}
		})
	}
	wg.Wait()
	var ids, elements int
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM event_ids").Scan(&ids))
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT coalesce(sum(n), 0) FROM rollup_feed").Scan(&elements))
	var inEvents int
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT count(DISTINCT id) FROM events").Scan(&inEvents))
	assert.Equal(t, countEvents(t, s.Pool()), inEvents, "no identity twice in events")
	assert.EqualValues(t, inEvents, inserted.Load(), "each stored event counted inserted once")
	assert.Equal(t, inEvents, ids)
	assert.Equal(t, inEvents, elements, "each stored event once in the rollup feed")
	assert.Greater(t, inEvents, distinct/2)
	assert.Equal(t, inEvents, rolluptest.Materialize(t, s.Pool()))
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT coalesce(sum(n), 0) FROM rollup_cols WHERE kind = 't'").Scan(&elements))
	assert.Equal(t, inEvents, elements, "each stored event once in the columns")
}

func TestInsertEventsKeepsNonJSONDataAsBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migratedStore(t)
	ce := cloudevents.New()
	ce.SetID("x")
	ce.SetSource("s")
	ce.SetType("t")
	ce.SetTime(time.Now())
	ce.SetExtension("traceparent", "00-abc")
	require.NoError(t, ce.SetData("text/plain", []byte("hello")))
	_, err := s.InsertEvents(ctx, []*event.Event{{Project: "p", CE: ce, ReceivedAt: time.Now()}})
	require.NoError(t, err)
	var data []byte
	var hasProps bool
	var ext string
	require.NoError(t, s.Pool().QueryRow(ctx,
		"SELECT data, props IS NOT NULL, extensions->>'traceparent' FROM events").Scan(&data, &hasProps, &ext))
	assert.Equal(t, "hello", string(data))
	assert.False(t, hasProps)
	assert.Equal(t, "00-abc", ext)
}

func TestIsUnavailable(t *testing.T) {
	assert.True(t, store.IsUnavailable(context.DeadlineExceeded))
	assert.True(t, store.IsUnavailable(errors.New("dial tcp: connection refused")))
	assert.True(t, store.IsUnavailable(&pgconn.PgError{Code: "57P01"}), "admin shutdown")
	assert.True(t, store.IsUnavailable(&pgconn.PgError{Code: "08006"}), "connection failure")
	assert.False(t, store.IsUnavailable(&pgconn.PgError{Code: "22P02"}), "a data error is an answer")
	assert.False(t, store.IsUnavailable(&pgconn.PgError{Code: "42P01"}), "a missing table is an answer")
	assert.False(t, store.IsUnavailable(nil), "no error is no outage")
}

func TestIsPermanent(t *testing.T) {
	for _, tc := range []struct {
		code string
		want bool
	}{
		{"22P02", true},  // invalid text representation
		{"22021", true},  // bad encoding
		{"23502", true},  // not null violation
		{"54000", true},  // a value over a size limit (an index entry)
		{"54001", true},  // a document too deep
		{"23505", false}, // an identity a concurrent batch stored: retried
		{"23514", false}, // a partition missing: made, then retried
		{"40P01", false}, // deadlock
		{"57P01", false}, // shutdown
	} {
		assert.Equal(t, tc.want, store.IsPermanent(fmt.Errorf("insert: %w", &pgconn.PgError{Code: tc.code})), tc.code)
	}
	assert.True(t, store.IsPermanent(&pgconn.PgError{Code: "23514", ConstraintName: "events_type_check"}), "a CHECK constraint")
	assert.False(t, store.IsPermanent(errors.New("dial tcp: connection refused")))
	assert.True(t, store.IsPermanent(&store.PermanentError{Err: errors.New("cannot encode")}))
}

// TestDropEmptyPartitionsWhileEventsIsBusy: with the events table locked by
// another transaction, nothing is dropped and the caller is told why; once
// it is free, the empty partition goes.
func TestDropEmptyPartitionsWhileEventsIsBusy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := migratedStore(t)
	old := time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.EnsurePartition(ctx, old))
	conn, err := s.Pool().Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()

	busy, err := s.Pool().Begin(ctx)
	require.NoError(t, err)
	_, err = busy.Exec(ctx, "LOCK TABLE events IN ACCESS SHARE MODE")
	require.NoError(t, err)
	dropped, err := store.DropEmptyPartitions(ctx, conn, old.AddDate(0, 0, 1), 50*time.Millisecond)
	assert.ErrorIs(t, err, store.ErrPartitionsBusy)
	assert.Empty(t, dropped)
	require.NoError(t, busy.Rollback(ctx))

	dropped, err = store.DropEmptyPartitions(ctx, conn, old.AddDate(0, 0, 1), 50*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, []string{"events_p20200102"}, dropped)
}
