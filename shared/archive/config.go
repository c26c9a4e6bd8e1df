package archive

import (
	"errors"
	"fmt"
	"time"

	"github.com/eventfn/eventfn/shared/config"
)

// Config is the environment of the archive function.
type Config struct {
	config.Server
	config.Postgres
	config.Auth

	// HotDays is how many whole UTC days before today stay in PostgreSQL;
	// older days are archived. At least 1.
	HotDays int `envconfig:"HOT_DAYS" default:"30"`
	// ArchiveURL is where the Parquet files go: file:///absolute/path.
	// s3://bucket/prefix is refused by this version.
	ArchiveURL string `envconfig:"ARCHIVE_URL" default:"file:///var/lib/eventfn/archive"`
	// ArchiveEvery, when positive, runs an archive pass at this interval in
	// the background (the local gateway, a long-running container); 0 runs
	// only when POST / is called (a platform schedule).
	ArchiveEvery time.Duration `envconfig:"ARCHIVE_EVERY" default:"0"`
}

// Validate checks the embedded parts and the archive settings; each error
// names its variable.
func (c Config) Validate() error {
	for _, v := range []interface{ Validate() error }{c.Server, c.Postgres} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if c.HotDays < 1 {
		return fmt.Errorf("HOT_DAYS must be at least 1, got %d", c.HotDays)
	}
	if c.ArchiveEvery < 0 {
		return errors.New("ARCHIVE_EVERY must not be negative")
	}
	if _, err := OpenStorage(c.ArchiveURL); err != nil {
		return err
	}
	return nil
}
