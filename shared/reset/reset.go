// Package reset is the command behind `make reset`: it drops what the
// current settings name on this machine, so a newcomer can start over: the
// database (created again empty), the events and dead-letter streams (the
// durable consumer goes with its stream), and the Redis keys under
// REDIS_PREFIX (the rate limiter's rate:-prefixed ones too). It asks
// first, and it refuses settings that point at another machine.
package reset

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/shared/config"
)

// Config is the tool's environment: the shared parts of the functions'.
type Config struct {
	config.Postgres
	config.Redis
	config.NATS
}

// Validate checks the three parts.
func (c Config) Validate() error {
	for _, v := range []interface{ Validate() error }{c.Postgres, c.Redis, c.NATS} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// timeout bounds the whole reset.
const timeout = 2 * time.Minute

const usage = `usage: make reset [RESET_YES=1]    (the tool: .run/reset [-yes])
Drops, for good, what the current settings name on this machine: the
database of DATABASE_URL (created again empty), the streams NATS_STREAM
(with the consumer NATS_CONSUMER) and NATS_DLQ_STREAM, and the Redis keys
under REDIS_PREFIX (and rate:REDIS_PREFIX). It asks first; -yes does not.
Stop make run first.
`

// Main runs the tool with args (without the program name) and returns the
// exit code: 0 done, 1 failed or not confirmed, 2 bad usage or settings
// that point elsewhere. It asks on stderr and reads the answer from stdin.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var cfg Config
	if err := config.Load(&cfg); err != nil {
		fmt.Fprintf(stderr, "reset: %v\n", err)
		return 1
	}
	return Run(ctx, cfg, args, stdin, stdout, stderr)
}

// Run is Main with the settings given instead of read from the environment.
func Run(ctx context.Context, cfg Config, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reset", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	yes := fs.Bool("yes", false, "do not ask")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	t, err := targetsOf(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "reset: %v\nNothing was dropped.\n", err)
		return 2
	}
	fmt.Fprint(stderr, t.describe())
	if !*yes {
		fmt.Fprint(stderr, "Type yes to drop them: ")
		if !config.Confirmed(stdin) {
			fmt.Fprintln(stderr, "\nreset: not confirmed: nothing dropped")
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Each part on its own: one that fails (a service down) leaves the
	// others to be done, and is reported.
	failed := false
	for _, step := range []func(context.Context, io.Writer) error{t.dropStreams, t.dropRedisKeys, t.dropDatabase} {
		if err := step(ctx, stdout); err != nil {
			fmt.Fprintf(stderr, "reset: %v\n", err)
			failed = true
		}
	}
	if failed {
		return 1
	}
	fmt.Fprintln(stdout, "reset: done; `make run` starts over from empty")
	return 0
}

// targets is what a reset drops, checked to be on this machine.
type targets struct {
	cfg      Config
	pg       *pgx.ConnConfig // of the maintenance database
	database string
	redis    *redis.Options
}

func targetsOf(cfg Config) (*targets, error) {
	pc, err := pgx.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if !localHost(pc.Host) {
		return nil, fmt.Errorf("DATABASE_URL names %s, not this machine: make reset drops local data only", pc.Host)
	}
	db := pc.Database
	switch db {
	case "", "postgres", "template0", "template1":
		return nil, fmt.Errorf("DATABASE_URL names the database %q, which is not eventfn's own to drop", db)
	}
	pc.Database = "postgres"
	ro, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	if host, _, _ := net.SplitHostPort(ro.Addr); ro.Network != "unix" && !localHost(host) {
		return nil, fmt.Errorf("REDIS_URL names %s, not this machine: make reset drops local data only", ro.Addr)
	}
	for _, raw := range strings.Split(cfg.NATSURL, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("NATS_URL: %w", err)
		}
		if !localHost(u.Hostname()) {
			return nil, fmt.Errorf("NATS_URL names %s, not this machine: make reset drops local data only", u.Host)
		}
	}
	return &targets{cfg: cfg, pg: pc, database: db, redis: ro}, nil
}

// localHost reports whether host is this machine: a loopback name or
// address, or a Unix socket directory.
func localHost(host string) bool {
	if host == "" || host == "localhost" || strings.HasPrefix(host, "/") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func (t *targets) describe() string {
	c := t.cfg
	var b strings.Builder
	fmt.Fprintf(&b, "make reset drops, for good:\n")
	fmt.Fprintf(&b, "  PostgreSQL  database %q on %s:%d (created again, empty)\n", t.database, t.pg.Host, t.pg.Port)
	fmt.Fprintf(&b, "  NATS        streams %s (with its consumer %s) and %s on %s\n", c.Stream, c.Consumer, c.DLQStream, c.NATSURL)
	fmt.Fprintf(&b, "  Redis       keys %s* and rate:%s* on %s\n", c.RedisPrefix, c.RedisPrefix, t.redis.Addr)
	fmt.Fprintf(&b, "Stop make run first: its functions hold these.\n")
	return b.String()
}

// dropStreams deletes the events and dead-letter streams; the durable
// consumer is the events stream's and goes with it.
func (t *targets) dropStreams(ctx context.Context, out io.Writer) error {
	nc, err := nats.Connect(t.cfg.NATSURL, nats.Timeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	for _, name := range []string{t.cfg.Stream, t.cfg.DLQStream} {
		s, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			fmt.Fprintf(out, "stream %s: none\n", name)
			continue
		}
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		msgs := s.CachedInfo().State.Msgs
		if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("delete stream %s: %w", name, err)
		}
		fmt.Fprintf(out, "stream %s: deleted (%d messages)\n", name, msgs)
	}
	return nil
}

// dropRedisKeys deletes the keys under the prefix, and the rate limiter's,
// which go-redis/redis_rate puts under its own "rate:" before it.
func (t *targets) dropRedisKeys(ctx context.Context, out io.Writer) error {
	rdb := redis.NewClient(t.redis)
	defer rdb.Close()
	n := 0
	for _, prefix := range []string{t.cfg.RedisPrefix, "rate:" + t.cfg.RedisPrefix} {
		iter := rdb.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
		var batch []string
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
				return fmt.Errorf("redis: delete keys: %w", err)
			}
			n += len(batch)
			batch = batch[:0]
			return nil
		}
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == 1000 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("redis: list keys: %w", err)
		}
		if err := flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "redis: %d keys deleted under %s and rate:%s\n", n, t.cfg.RedisPrefix, t.cfg.RedisPrefix)
	return nil
}

// globEscape quotes the characters SCAN's MATCH pattern gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// dropDatabase drops the database, closing its connections, and creates it
// again empty: the functions migrate it when they start.
func (t *targets) dropDatabase(ctx context.Context, out io.Writer) error {
	conn, err := pgx.ConnectConfig(ctx, t.pg)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	name := pgx.Identifier{t.database}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("postgres: drop database %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("postgres: create database %s: %w", name, err)
	}
	fmt.Fprintf(out, "database %s: dropped and created again, empty\n", t.database)
	return nil
}
