package archive

import (
	"errors"
	"fmt"
	"strconv"
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
	// ArchiveURL is where the Parquet files go: file:///absolute/path or
	// s3://bucket/optional/prefix.
	ArchiveURL string `envconfig:"ARCHIVE_URL" default:"file:///var/lib/eventfn/archive"`
	// ArchiveS3Endpoint is the S3-compatible service of an s3:// ARCHIVE_URL,
	// host[:port] (HTTPS) or http(s)://host[:port] (MinIO: http://minio:9000);
	// empty is AWS S3 in ArchiveS3Region. Credentials are no setting of ours:
	// the standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
	// AWS_SESSION_TOKEN), else the pod's or instance's IAM role (IRSA, ECS,
	// EC2), as every AWS tool reads them.
	ArchiveS3Endpoint string `envconfig:"ARCHIVE_S3_ENDPOINT"`
	// ArchiveS3Region is the region S3 requests are signed for and, on AWS,
	// the regional endpoint; MinIO takes the default unless configured.
	ArchiveS3Region string `envconfig:"ARCHIVE_S3_REGION" default:"us-east-1"`
	// ArchiveEvery, when positive, runs an archive pass at this interval in
	// the background (the local gateway, a long-running container); 0 runs
	// only when POST / is called (a platform schedule). A Go duration
	// ("1h") or a number of seconds ("3600", as the docker compose
	// scheduler reads the same variable).
	ArchiveEvery Interval `envconfig:"ARCHIVE_EVERY" default:"0"`
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
	if c.ArchiveEvery.Duration() < 0 {
		return errors.New("ARCHIVE_EVERY must not be negative")
	}
	if _, err := c.Storage(); err != nil {
		return err
	}
	return nil
}

// Storage opens the Storage ARCHIVE_URL names with the S3 settings; no
// request is made (Storage.Check makes one).
func (c Config) Storage() (Storage, error) {
	return OpenStorage(c.ArchiveURL, S3Options{Endpoint: c.ArchiveS3Endpoint, Region: c.ArchiveS3Region})
}

// Interval is a duration read from the environment as a Go duration
// ("90s", "1h") or as a bare number of seconds ("3600").
type Interval time.Duration

// Decode implements envconfig.Decoder.
func (i *Interval) Decode(value string) error {
	if n, err := strconv.ParseInt(value, 10, 64); err == nil {
		*i = Interval(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		return fmt.Errorf("%q is neither a duration (1h, 90s) nor a number of seconds", value)
	}
	*i = Interval(d)
	return nil
}

// Duration returns i as a time.Duration.
func (i Interval) Duration() time.Duration { return time.Duration(i) }
