package event

import "time"

// Default limits of the contract (section 1); every one is configurable.
const (
	DefaultMaxEventBytes       = 32 << 10
	DefaultMaxBatchEvents      = 1000
	DefaultMaxBodyBytes        = 1 << 20
	DefaultMaxPropertyKeyBytes = 128
	DefaultMaxFutureSkew       = 24 * time.Hour
	// MaxAttributeBytes bounds id, source and type.
	MaxAttributeBytes = 256
	// MaxSubjectBytes bounds subject, which the contract leaves unbounded:
	// the rollups key users by it in a btree, whose entries PostgreSQL
	// caps at 2704 bytes (incompressible text over about 2.6 KB would be
	// accepted and then never stored). Emails, UUIDs and hashes fit.
	MaxSubjectBytes = 1024
)

// Limits bounds what one event and one request may hold.
type Limits struct {
	MaxEventBytes       int
	MaxBatchEvents      int
	MaxBodyBytes        int
	MaxPropertyKeyBytes int
	// MaxFutureSkew is how far ahead of the receive time an event's time may be.
	MaxFutureSkew time.Duration
}

// DefaultLimits returns the contract's default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxEventBytes:       DefaultMaxEventBytes,
		MaxBatchEvents:      DefaultMaxBatchEvents,
		MaxBodyBytes:        DefaultMaxBodyBytes,
		MaxPropertyKeyBytes: DefaultMaxPropertyKeyBytes,
		MaxFutureSkew:       DefaultMaxFutureSkew,
	}
}
