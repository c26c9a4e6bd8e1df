// Package rollupadmin is the command behind scripts/rollups: it lists the
// time zones that have calendar rollups and rebuilds them from the stored
// per-event columns. It reads DATABASE_URL like the functions do.
package rollupadmin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/store"
)

// Config is the tool's environment: the PostgreSQL part of the functions'.
type Config struct {
	config.Postgres
}

// Validate checks the PostgreSQL settings.
func (c Config) Validate() error { return c.Postgres.Validate() }

const usage = `usage: scripts/rollups COMMAND
  zones              the time zones with calendar rollups
  rebuild [TZ...]    rebuild the calendar rollups of these zones (default: all)
                     from the stored per-event columns; consumers wait meanwhile
Settings come from DATABASE_URL.
`

// Main runs the tool with args (without the program name) and returns the
// exit code: 0 done, 1 failed, 2 bad usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg Config
	if code, ok := config.LoadTool("rollups", usage, args, &cfg, stderr); !ok {
		return code
	}
	return Run(ctx, cfg.Postgres, args, stdout, stderr)
}

// Run is Main with the PostgreSQL settings given instead of read from the
// environment.
func Run(ctx context.Context, cfg config.Postgres, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	if cmd != "zones" && cmd != "rebuild" {
		fmt.Fprintf(stderr, "rollups: unknown command %q\n%s", cmd, usage)
		return 2
	}
	if cmd == "zones" && len(rest) > 0 {
		fmt.Fprintf(stderr, "rollups: zones takes no arguments\n%s", usage)
		return 2
	}
	err := run(ctx, cfg, cmd, rest, stdout)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "rollups: %v\n", err)
	if errors.Is(err, rollup.ErrZoneNotRegistered) {
		return 2
	}
	return 1
}

func run(ctx context.Context, cfg config.Postgres, cmd string, zones []string, stdout io.Writer) error {
	pool, err := store.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cmd == "zones" {
		have, err := rollup.Timezones(ctx, pool)
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			return errors.New("the database DATABASE_URL names holds no eventfn schema: no function has run against it")
		}
		for _, z := range have {
			fmt.Fprintln(stdout, z)
		}
		return err
	}
	// A repair may run before the new version's consumers did: the schema
	// the rebuild writes must be there.
	if err := store.Migrate(ctx, pool); err != nil {
		return err
	}
	start := time.Now()
	done, err := rollup.RebuildTimezones(ctx, pool, zones)
	for _, z := range done {
		fmt.Fprintf(stdout, "rebuilt %s\n", z)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d zone(s) in %s\n", len(done), time.Since(start).Round(time.Millisecond))
	return nil
}
