// Package dedup remembers, in Redis, which event identities were accepted,
// for DEDUP_WINDOW. A key is written only after the stream acknowledged the
// event (Claim), so a remembered identity always means the event really
// reached the stream: dedup can never turn a lost event into a "duplicate".
package dedup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable wraps every failure to reach Redis.
var ErrUnavailable = errors.New("dedup store unavailable")

// Store is the Redis dedup store of one key prefix.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	window time.Duration
}

// New returns a Store writing keys under prefix+"dd:" that live for window.
func New(rdb redis.UniversalClient, prefix string, window time.Duration) *Store {
	return &Store{rdb: rdb, prefix: prefix + "dd:", window: window}
}

// Seen reports, for each identity key, whether it was claimed within the
// window.
func (s *Store) Seen(ctx context.Context, keys []string) ([]bool, error) {
	seen := make([]bool, len(keys))
	if len(keys) == 0 {
		return seen, nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = s.prefix + k
	}
	vals, err := s.rdb.MGet(ctx, full...).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for i, v := range vals {
		seen[i] = v != nil
	}
	return seen, nil
}

// Claim records each identity key as accepted, atomically per key (SET NX),
// and reports for each whether this call was the first to claim it. Call it
// only for events the stream has acknowledged. Of two requests racing with
// the same event, exactly one sees true.
func (s *Store) Claim(ctx context.Context, keys []string) ([]bool, error) {
	claimed := make([]bool, len(keys))
	if len(keys) == 0 {
		return claimed, nil
	}
	cmds := make([]*redis.BoolCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.SetNX(ctx, s.prefix+k, 1, s.window)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for i, c := range cmds {
		claimed[i] = c.Val()
	}
	return claimed, nil
}
