package stats_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/stats"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// TestStatsReadTheReplicaAndWriteOnlyThePrimary stands a read-only
// database (default_transaction_read_only, as a hot standby refuses
// writes) in for a replica: the queries answer from it, while the
// migrations and a new zone's rollups go to DATABASE_URL.
func TestStatsReadTheReplicaAndWriteOnlyThePrimary(t *testing.T) {
	ctx := context.Background()
	primaryURL, replicaURL := testenv.Database(t), testenv.Database(t)

	// The "replica" holds three events the primary does not.
	rp, err := store.Open(ctx, config.Postgres{DatabaseURL: replicaURL, DatabaseMaxConns: 2})
	require.NoError(t, err)
	require.NoError(t, store.Migrate(ctx, rp))
	require.NoError(t, rollup.EnsureTimezones(ctx, rp, []string{"UTC"}))
	day := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	var evs []*event.Event
	for i, subject := range []string{"alice", "bob", "alice"} {
		evs = append(evs, genEvent{project: "shop", source: "web", id: "r" + string(rune('0'+i)), typ: "page_view", subject: subject, t: day}.event())
	}
	_, err = store.New(rp).InsertEvents(ctx, evs)
	require.NoError(t, err)
	rp.Close()
	u, err := url.Parse(replicaURL)
	require.NoError(t, err)
	admin, err := pgx.Connect(ctx, testenv.AdminDatabaseURL())
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "ALTER DATABASE "+strings.TrimPrefix(u.Path, "/")+" SET default_transaction_read_only = on")
	require.NoError(t, err)

	cfg := stats.Config{
		Server:           config.Server{Port: 8080, LogLevel: "info", ShutdownTimeout: time.Second},
		Postgres:         config.Postgres{DatabaseURL: primaryURL, DatabaseMaxConns: 2},
		Auth:             config.Auth{APIKeys: readKey + "=shop:read"},
		StatsDatabaseURL: replicaURL,
		MaxRangeDays:     400,
		QueryTimeout:     30 * time.Second,
		RollupTimezones:  "UTC, Europe/Kyiv",
	}
	require.NoError(t, cfg.Validate())
	base := serveFunction(t, "stats-top", func(deps serve.Deps) (*serve.Function, error) { return stats.NewTop(ctx, cfg, deps) })

	for _, tz := range []string{"UTC", "Europe/Kyiv"} {
		a := get(t, base+"/?from=2026-11-01&to=2026-11-03&tz="+tz, readKey)
		require.Equal(t, 200, a.status, "%s", a.body)
		assert.JSONEq(t, `{"events":[{"type":"page_view","count":3,"users":2}]}`, string(a.body), tz)
	}

	zones := func(dbURL string) []string {
		c, err := pgx.Connect(ctx, dbURL)
		require.NoError(t, err)
		defer c.Close(ctx)
		z, err := rollup.Timezones(ctx, c)
		require.NoError(t, err)
		return z
	}
	assert.Equal(t, []string{"Europe/Kyiv", "UTC"}, zones(primaryURL), "the primary was migrated and given the new zone")
	assert.Equal(t, []string{"UTC"}, zones(replicaURL), "nothing was written to the replica")
}

func TestStatsDatabaseURLMustBeAPostgresURL(t *testing.T) {
	cfg := stats.Config{
		Server:           config.Server{Port: 8080, LogLevel: "info", ShutdownTimeout: time.Second},
		Postgres:         config.Postgres{DatabaseURL: "postgres://127.0.0.1/eventfn", DatabaseMaxConns: 2},
		MaxRangeDays:     400,
		QueryTimeout:     time.Second,
		RollupTimezones:  "UTC",
		StatsDatabaseURL: "mysql://replica/eventfn",
	}
	assert.ErrorContains(t, cfg.Validate(), "STATS_DATABASE_URL")
	cfg.StatsDatabaseURL = "postgresql://replica:5433/eventfn"
	require.NoError(t, cfg.Validate())
	assert.Equal(t, "postgresql://replica:5433/eventfn", cfg.ReadURL())
	cfg.StatsDatabaseURL = ""
	assert.Equal(t, "postgres://127.0.0.1/eventfn", cfg.ReadURL(), "empty reads DATABASE_URL")
}
