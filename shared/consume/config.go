package consume

import (
	"errors"
	"fmt"
	"time"

	"github.com/eventfn/eventfn/shared/config"
)

// Config is the consume-batch function's environment.
type Config struct {
	config.Server
	config.Postgres
	config.NATS
	config.Auth

	// MaxDeliver is how many times a message that cannot be stored
	// (undecodable, or violating the schema) is delivered before it moves to
	// the dead-letter stream. Messages that failed for a passing reason
	// (database down) are retried without limit and never dead-lettered.
	MaxDeliver int `envconfig:"MAX_DELIVER" default:"5"`
	// MaxEvents bounds the events one drain request (POST /) takes.
	MaxEvents int `envconfig:"CONSUME_MAX_EVENTS" default:"100000"`
	// MaxSeconds bounds the time one drain request spends fetching; keep it
	// under the gateway's timeout (OpenFaaS: exec_timeout).
	MaxSeconds int `envconfig:"CONSUME_MAX_SECONDS" default:"20"`
	// BatchSize is about the events fetched and stored in one transaction
	// (whole messages are taken, so a batch may hold a message more).
	BatchSize int `envconfig:"CONSUME_BATCH_SIZE" default:"10000"`
	// RollupChunk is the events one step of the rollup materializer moves
	// from the feed into the rollups in one transaction.
	RollupChunk int `envconfig:"ROLLUP_CHUNK_EVENTS" default:"50000"`
	// MaxRollupBacklog is how many events the rollup feed may hold before
	// the continuous drain loop stops fetching until the materializers
	// caught up (0: never). Past a few chunks, stats answers slow down with
	// the backlog (they read it event by event), while events waiting in
	// the stream cost nothing; a drain request (POST /) is not held.
	MaxRollupBacklog int `envconfig:"ROLLUP_MAX_BACKLOG_EVENTS" default:"200000"`
	// Continuous runs a drain loop for the life of the process, so an
	// accepted event is stored within about a second (`make run` sets it).
	Continuous bool `envconfig:"CONSUME_CONTINUOUS" default:"false"`
	// Push takes CloudEvents POSTed to the function (a Knative Trigger).
	// A pushed event names its own project, so where nothing pushes
	// (OpenFaaS, compose) turning it off leaves no way around ingest's
	// keys and limits for whoever reaches the function without ADMIN_KEY.
	Push bool `envconfig:"CONSUME_PUSH" default:"true"`
	// AckWait is how long a fetched message may stay unacknowledged before
	// JetStream delivers it again, should its consumer die; a live consumer
	// renews it while a slow batch is being stored.
	AckWait time.Duration `envconfig:"ACK_WAIT" default:"30s"`
	// MaxAckPending bounds messages fetched and not yet acknowledged across
	// all replicas; it must be at least CONSUME_BATCH_SIZE, and should be
	// replicas × batch size or more.
	MaxAckPending int `envconfig:"CONSUME_MAX_ACK_PENDING" default:"20000"`
	// RetryDelay is how long a message whose storing failed waits before it
	// is delivered again.
	RetryDelay time.Duration `envconfig:"CONSUME_RETRY_DELAY" default:"1s"`
	// MaxFutureSkew is how far in the future a pushed event's time may be,
	// as in ingest; pulled events were checked by ingest already.
	MaxFutureSkew time.Duration `envconfig:"MAX_FUTURE_SKEW" default:"24h"`
	// MaxBodyBytes bounds one push request (a CloudEvent or a batch).
	MaxBodyBytes int `envconfig:"MAX_BODY_BYTES" default:"1048576"`
}

// Validate checks every embedded part and the consumer's limits.
func (c Config) Validate() error {
	for _, v := range []interface{ Validate() error }{c.Server, c.Postgres, c.NATS} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name   string
		v, min int
	}{
		{"MAX_DELIVER", c.MaxDeliver, 1},
		{"CONSUME_MAX_EVENTS", c.MaxEvents, 1},
		{"CONSUME_MAX_SECONDS", c.MaxSeconds, 1},
		{"CONSUME_BATCH_SIZE", c.BatchSize, 1},
		{"ROLLUP_CHUNK_EVENTS", c.RollupChunk, 1},
		{"MAX_BODY_BYTES", c.MaxBodyBytes, 1},
		{"ROLLUP_MAX_BACKLOG_EVENTS", c.MaxRollupBacklog, 0},
	} {
		if f.v < f.min {
			return fmt.Errorf("%s must be at least %d, got %d", f.name, f.min, f.v)
		}
	}
	if c.BatchSize > maxBatchSize {
		return fmt.Errorf("CONSUME_BATCH_SIZE must be at most %d, got %d", maxBatchSize, c.BatchSize)
	}
	if c.MaxAckPending < c.BatchSize {
		return fmt.Errorf("CONSUME_MAX_ACK_PENDING %d must be at least CONSUME_BATCH_SIZE %d", c.MaxAckPending, c.BatchSize)
	}
	if c.AckWait < time.Second {
		return errors.New("ACK_WAIT must be at least 1s")
	}
	if c.RetryDelay < 0 {
		return errors.New("CONSUME_RETRY_DELAY must not be negative")
	}
	if c.MaxFutureSkew < 0 {
		return errors.New("MAX_FUTURE_SKEW must not be negative")
	}
	return nil
}

// maxBatchSize keeps one transaction's parameter arrays and COPY well
// within what PostgreSQL and the ack wait handle.
const maxBatchSize = 100000
