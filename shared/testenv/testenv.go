// Package testenv gives integration tests their own slice of the real
// services: a fresh PostgreSQL database, a Redis key prefix, JetStream
// stream and subject names on the shared NATS, or an embedded nats-server
// that a fault drill may stop and start. Everything is removed in t.Cleanup.
//
// The services are named by EVENTFN_TEST_DATABASE_URL (an admin connection,
// default postgres://postgres@127.0.0.1:5432/postgres), EVENTFN_TEST_REDIS_URL
// and EVENTFN_TEST_NATS_URL; `make test` makes sure they are up.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/shared/config"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Suffix returns a short random name part, unique per call.
func Suffix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// AdminDatabaseURL is the connection the tests create databases through.
func AdminDatabaseURL() string {
	return env("EVENTFN_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
}

// RedisURL is the Redis server tests use.
func RedisURL() string { return env("EVENTFN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0") }

// NATSURL is the shared NATS server tests use.
func NATSURL() string { return env("EVENTFN_TEST_NATS_URL", "nats://127.0.0.1:4222") }

// Database creates an empty database for the test and returns its URL; the
// database is dropped when the test ends.
func Database(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := AdminDatabaseURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("testenv: PostgreSQL at %s is not reachable (run `make test`, which starts it): %v", admin, err)
	}
	defer conn.Close(ctx)
	name := "eventfn_test_" + Suffix()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("testenv: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Logf("testenv: drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("testenv: EVENTFN_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Redis returns the Redis settings of a fresh key prefix and a client; the
// prefix's keys are deleted when the test ends.
func Redis(tb testing.TB) (config.Redis, *redis.Client) {
	tb.Helper()
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		tb.Fatalf("testenv: EVENTFN_TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		tb.Fatalf("testenv: Redis at %s is not reachable (run `make test`, which starts it): %v", RedisURL(), err)
	}
	prefix := "eventfn_test_" + Suffix() + ":"
	tb.Cleanup(func() {
		// A benchmark leaves millions of dedup marks: minutes, not seconds,
		// or most of them would outlive the run (by the dedup window).
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// go-redis/redis_rate puts its own "rate:" before the prefix.
		for _, pattern := range []string{prefix + "*", "rate:" + prefix + "*"} {
			iter := client.Scan(ctx, 0, pattern, 10000).Iterator()
			var keys []string
			for iter.Next(ctx) {
				keys = append(keys, iter.Val())
				if len(keys) == 1000 {
					client.Unlink(ctx, keys...)
					keys = keys[:0]
				}
			}
			if len(keys) > 0 {
				client.Unlink(ctx, keys...)
			}
		}
		_ = client.Close()
	})
	return config.Redis{RedisURL: RedisURL(), RedisPrefix: prefix}, client
}

// NATS returns NATS settings with stream, subject and consumer names of
// the test's own on the server at natsURL; both streams are deleted when
// the test ends.
func NATS(tb testing.TB, natsURL string) config.NATS {
	tb.Helper()
	s := strings.ToUpper(Suffix())
	cfg := config.NATS{
		NATSURL:         natsURL,
		Stream:          "EVENTFN_TEST_" + s,
		Subject:         "eventfn_test_" + s + ".events",
		Consumer:        "consume_" + s,
		DLQStream:       "EVENTFN_TEST_DLQ_" + s,
		DLQSubject:      "eventfn_test_" + s + ".dlq",
		Replicas:        1,
		DuplicateWindow: 2 * time.Minute,
		MaxAge:          time.Hour,
	}
	tb.Cleanup(func() {
		nc, err := nats.Connect(natsURL, nats.Timeout(2*time.Second))
		if err != nil {
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, cfg.Stream)
		_ = js.DeleteStream(ctx, cfg.DLQStream)
	})
	return cfg
}

// Eventually polls cond until it holds or the timeout passes, then fails.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testenv: condition not met within %s: %s", timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(wait)
	}
}
