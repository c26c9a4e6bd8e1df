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
