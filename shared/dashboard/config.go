package dashboard

import (
	"errors"
	"fmt"
	"time"

	"github.com/eventfn/eventfn/shared/config"
)

// Config is the dashboard's environment. The query limits have the stats
// functions' names and defaults: set them alike on both, so that a page
// refuses what the API refuses.
type Config struct {
	config.Server
	config.Postgres
	config.Auth

	// MaxRangeDays bounds to - from of a query, in days (as stats).
	MaxRangeDays int `envconfig:"STATS_MAX_RANGE_DAYS" default:"400"`
	// QueryTimeout bounds one page's queries, in PostgreSQL and here.
	QueryTimeout time.Duration `envconfig:"STATS_QUERY_TIMEOUT" default:"30s"`
	// SessionTTL is how long a sign-in lasts; signing out ends it sooner.
	SessionTTL time.Duration `envconfig:"DASHBOARD_SESSION_TTL" default:"12h"`
}

// Validate checks the embedded parts and the dashboard's settings.
func (c Config) Validate() error {
	for _, v := range []interface{ Validate() error }{c.Server, c.Postgres} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if c.MaxRangeDays < 1 {
		return fmt.Errorf("STATS_MAX_RANGE_DAYS must be at least 1, got %d", c.MaxRangeDays)
	}
	if c.QueryTimeout <= 0 {
		return errors.New("STATS_QUERY_TIMEOUT must be positive")
	}
	if c.SessionTTL < time.Minute {
		return fmt.Errorf("DASHBOARD_SESSION_TTL %s must be at least 1m", c.SessionTTL)
	}
	return nil
}
