package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

func TestMigrateConcurrentReplicasApplyOnce(t *testing.T) {
	ctx := context.Background()
	url := testenv.Database(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := store.Open(ctx, config.Postgres{DatabaseURL: url, DatabaseMaxConns: 2})
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			errs[i] = store.Migrate(ctx, pool)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: url, DatabaseMaxConns: 2})
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, store.Migrate(ctx, pool), "a second run is a no-op")

	// A partition made on demand takes a 60-day-old event.
	day := time.Now().UTC().AddDate(0, 0, -60).Truncate(24 * time.Hour)
	_, err = pool.Exec(ctx, "SELECT eventfn_ensure_partition($1::date)", day)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO events (project, source, id, type, time, received_at) VALUES ('p','s','1','t',$1,now())`, day.Add(time.Hour))
	require.NoError(t, err)
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n))
	assert.Positive(t, n)

	// The feed's events are lz4-compressed where the server can (0008):
	// the check is that the migration's fallback did not swallow a mistake.
	var lz4 bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))`).Scan(&lz4))
	var method, storage string
	require.NoError(t, pool.QueryRow(ctx, `SELECT attcompression::text, attstorage::text FROM pg_attribute WHERE attrelid = 'rollup_feed'::regclass AND attname = 'events'`).Scan(&method, &storage))
	if lz4 {
		assert.Equal(t, "l", method, "feed events compressed with lz4")
		assert.Equal(t, "x", storage, "feed events stored EXTENDED")
	} else {
		assert.Equal(t, "e", storage, "feed events stay uncompressed without lz4")
	}
}

// TestEnsurePartitionConcurrently: consumers that need the same new day at
// once all succeed, and the partition exists once.
func TestEnsurePartitionConcurrently(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	day := time.Date(2020, 2, 29, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = store.New(s.Pool()).EnsurePartition(context.Background(), day.Add(time.Duration(i)*time.Hour))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var n int
	require.NoError(t, s.Pool().QueryRow(context.Background(),
		"SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass AND inhrelid = 'events_p20200229'::regclass").Scan(&n))
	assert.Equal(t, 1, n)
}
