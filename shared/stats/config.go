package stats

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/rollup"
)

// Config is the environment of the three stats functions.
type Config struct {
	config.Server
	config.Postgres
	config.Auth

	// StatsDatabaseURL, when set, is where the queries read: a streaming
	// replica of DATABASE_URL. Writes stay on DATABASE_URL, the primary:
	// the migrations and a new zone's rollups at start, and compaction. A
	// replica's answers lag the primary's by its replay lag (README).
	// Empty reads DATABASE_URL.
	StatsDatabaseURL string `envconfig:"STATS_DATABASE_URL"`
	// MaxRangeDays bounds to - from of a query, in days.
	MaxRangeDays int `envconfig:"STATS_MAX_RANGE_DAYS" default:"400"`
	// QueryTimeout bounds one query's time in PostgreSQL and in the function.
	QueryTimeout time.Duration `envconfig:"STATS_QUERY_TIMEOUT" default:"30s"`
	// RollupTimezones are the IANA zones, comma-separated, whose calendar
	// rollups the database keeps: queries in them without source or
	// property filters take milliseconds; other zones are answered exactly
	// from the event columns. A zone missing from the database is added at
	// start, its rollups built from every stored event while consumers wait
	// (rollup.EnsureTimezones); zones are never dropped automatically.
	RollupTimezones string `envconfig:"ROLLUP_TIMEZONES" default:"UTC"`
	// CompactInterval is how often the function merges the small column
	// chunks (rollup.Compact), today's included, which keeps scans short
	// and the columns small: under full-rate ingest the materializer adds
	// a chunk every few seconds, and a filtered query over today reads
	// every one. 0 turns it off (another process may run it).
	CompactInterval time.Duration `envconfig:"STATS_COMPACT_INTERVAL" default:"1m"`
}

// Validate checks the embedded parts and the stats settings.
func (c Config) Validate() error {
	for _, v := range []interface{ Validate() error }{c.Server, c.Postgres} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if c.StatsDatabaseURL != "" {
		u, err := url.Parse(c.StatsDatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return fmt.Errorf("STATS_DATABASE_URL %q is not a postgres:// or postgresql:// URL", c.StatsDatabaseURL)
		}
	}
	if c.MaxRangeDays < 1 {
		return fmt.Errorf("STATS_MAX_RANGE_DAYS must be at least 1, got %d", c.MaxRangeDays)
	}
	if c.CompactInterval < 0 {
		return errors.New("STATS_COMPACT_INTERVAL must not be negative")
	}
	if c.QueryTimeout <= 0 {
		return errors.New("STATS_QUERY_TIMEOUT must be positive")
	}
	if _, err := c.Timezones(); err != nil {
		return err
	}
	return nil
}

// ReadURL is the database the queries read: STATS_DATABASE_URL, or
// DATABASE_URL when it is empty.
func (c Config) ReadURL() string {
	if c.StatsDatabaseURL != "" {
		return c.StatsDatabaseURL
	}
	return c.DatabaseURL
}

// Timezones returns ROLLUP_TIMEZONES as a list, each zone checked.
func (c Config) Timezones() ([]string, error) {
	var out []string
	for _, z := range strings.Split(c.RollupTimezones, ",") {
		z = strings.TrimSpace(z)
		if z == "" {
			continue
		}
		if _, err := rollup.LoadZone(z); err != nil {
			return nil, fmt.Errorf("ROLLUP_TIMEZONES: %w", err)
		}
		out = append(out, z)
	}
	return out, nil
}
