// Package config holds the environment settings every eventfn function reads
// once at start (contract §8). Each function has one struct that embeds the
// shared parts it needs; Load fills it with envconfig and runs Validate, so an
// invalid value stops the process with a message naming the variable.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Validator is a config with cross-field rules beyond what its tags say.
type Validator interface {
	Validate() error
}

// Load reads the environment into cfg (a pointer to a struct with envconfig
// tags) and validates it. The error names the offending variable.
func Load(cfg any) error {
	if err := envconfig.Process("", cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// Server is what every function's HTTP server needs.
type Server struct {
	// Port is where the function serves HTTP; 8080 on every platform.
	Port int `envconfig:"PORT" default:"8080"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `envconfig:"LOG_LEVEL" default:"info"`
	// ShutdownTimeout bounds the drain of in-flight requests on SIGTERM.
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"20s"`
}

// Validate checks the port range, the log level and the drain time.
func (s Server) Validate() error {
	// 0 would listen on a port chosen at random, which nothing can reach.
	if s.Port < 1 || s.Port > 65535 {
		return fmt.Errorf("PORT %d is not a TCP port (1-65535)", s.Port)
	}
	if _, err := ParseLevel(s.LogLevel); err != nil {
		return err
	}
	if s.ShutdownTimeout <= 0 {
		return fmt.Errorf("SHUTDOWN_TIMEOUT %s must be positive: in-flight requests get that long to finish", s.ShutdownTimeout)
	}
	return nil
}

// ParseLevel maps LOG_LEVEL to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL %q is not one of debug, info, warn, error", s)
	}
	return l, nil
}

// Postgres names the database.
type Postgres struct {
	// DatabaseURL is a PostgreSQL connection URL; the database is eventfn's own.
	DatabaseURL string `envconfig:"DATABASE_URL" default:"postgres://postgres@127.0.0.1:5432/eventfn?sslmode=disable"`
	// DatabaseMaxConns bounds the connection pool of one replica.
	DatabaseMaxConns int32 `envconfig:"DATABASE_MAX_CONNS" default:"8"`
}

// Validate checks that DATABASE_URL parses.
func (p Postgres) Validate() error {
	if err := checkURL("DATABASE_URL", p.DatabaseURL, "postgres", "postgresql"); err != nil {
		return err
	}
	if p.DatabaseMaxConns < 1 {
		return errors.New("DATABASE_MAX_CONNS must be at least 1")
	}
	return nil
}

// Redis names the Redis server and the key prefix that separates instances.
type Redis struct {
	// RedisURL is a redis:// or rediss:// URL.
	RedisURL string `envconfig:"REDIS_URL" default:"redis://127.0.0.1:6379/0"`
	// RedisPrefix starts every key eventfn writes, so instances can share a server.
	RedisPrefix string `envconfig:"REDIS_PREFIX" default:"eventfn:"`
}

// Validate checks that REDIS_URL parses and that keys have a prefix.
func (r Redis) Validate() error {
	if r.RedisPrefix == "" {
		return errors.New("REDIS_PREFIX must not be empty: it keeps instances sharing a Redis apart")
	}
	return checkURL("REDIS_URL", r.RedisURL, "redis", "rediss", "unix")
}

// NATS names the NATS server, the JetStream streams and the consumer.
type NATS struct {
	// NATSURL is one or more comma-separated nats:// URLs.
	NATSURL string `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222"`
	// Stream is the JetStream stream that holds accepted events.
	Stream string `envconfig:"NATS_STREAM" default:"EVENTFN"`
	// Subject is the subject prefix; events go to SUBJECT.<project>.
	Subject string `envconfig:"NATS_SUBJECT" default:"eventfn.events"`
	// Consumer is the durable pull consumer consume-batch drains.
	Consumer string `envconfig:"NATS_CONSUMER" default:"consume-batch"`
	// DLQStream holds messages that could not be stored after MAX_DELIVER tries.
	DLQStream string `envconfig:"NATS_DLQ_STREAM" default:"EVENTFN_DLQ"`
	// DLQSubject is the subject prefix of dead-lettered messages.
	DLQSubject string `envconfig:"NATS_DLQ_SUBJECT" default:"eventfn.dlq"`
	// Replicas is the stream replica count: 1 on one server, 3 on a cluster.
	Replicas int `envconfig:"NATS_REPLICAS" default:"1"`
	// DuplicateWindow is JetStream's own message-id dedup window, a guard
	// against concurrent re-sends; the long window is DEDUP_WINDOW in Redis.
	DuplicateWindow time.Duration `envconfig:"NATS_DUPLICATE_WINDOW" default:"2m"`
	// MaxAge bounds how long the stream keeps events; 0 keeps them until the
	// stream's other limits apply. Consumed events stay for replay.
	MaxAge time.Duration `envconfig:"NATS_MAX_AGE" default:"168h"`
}

// Validate checks names and windows.
func (n NATS) Validate() error {
	for _, u := range strings.Split(n.NATSURL, ",") {
		if err := checkURL("NATS_URL", strings.TrimSpace(u), "nats", "tls", "ws", "wss"); err != nil {
			return err
		}
	}
	for name, v := range map[string]string{"NATS_STREAM": n.Stream, "NATS_CONSUMER": n.Consumer, "NATS_DLQ_STREAM": n.DLQStream} {
		if v == "" || strings.ContainsAny(v, ". *>\t") {
			return fmt.Errorf("%s %q must be non-empty without '.', '*', '>' or spaces", name, v)
		}
	}
	for name, v := range map[string]string{"NATS_SUBJECT": n.Subject, "NATS_DLQ_SUBJECT": n.DLQSubject} {
		if v == "" || strings.ContainsAny(v, " *>\t") || strings.HasPrefix(v, ".") || strings.HasSuffix(v, ".") {
			return fmt.Errorf("%s %q must be a subject prefix without wildcards", name, v)
		}
	}
	if n.Stream == n.DLQStream {
		return errors.New("NATS_DLQ_STREAM must differ from NATS_STREAM")
	}
	// Each stream takes its prefix and everything below it; JetStream
	// refuses two streams whose subjects overlap.
	if a, b := n.Subject+".", n.DLQSubject+"."; strings.HasPrefix(a, b) || strings.HasPrefix(b, a) {
		return fmt.Errorf("NATS_DLQ_SUBJECT %q and NATS_SUBJECT %q overlap: neither may be the other or below it", n.DLQSubject, n.Subject)
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		return fmt.Errorf("NATS_REPLICAS %d must be 1 to 5", n.Replicas)
	}
	if n.DuplicateWindow <= 0 {
		return errors.New("NATS_DUPLICATE_WINDOW must be positive")
	}
	if n.MaxAge < 0 {
		return errors.New("NATS_MAX_AGE must not be negative")
	}
	return nil
}

// Auth holds API keys (contract §3).
type Auth struct {
	// APIKeys is comma-separated KEY=PROJECT:ROLE entries.
	APIKeys string `envconfig:"API_KEYS"`
	// APIKeysFile is a file of the same entries (comma or newline separated),
	// such as an OpenFaaS secret mount. Unlike the other settings it is read
	// again while the function runs (auth.Keys.Watch), so keys are added
	// and revoked without a restart.
	APIKeysFile string `envconfig:"API_KEYS_FILE"`
	// AuthDisabled maps every request to project "default"; local development only.
	AuthDisabled bool `envconfig:"AUTH_DISABLED" default:"false"`
	// AdminKey, when set, is required on the internal functions.
	AdminKey string `envconfig:"ADMIN_KEY"`
}

func checkURL(name, raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s is not a URL: %v", name, err)
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("%s scheme %q is not one of %s", name, u.Scheme, strings.Join(schemes, ", "))
	}
	if p := u.Port(); p != "" && !ValidPort(p) {
		return fmt.Errorf("%s port %q is not a TCP port (1-65535)", name, p)
	}
	return nil
}

// ValidPort reports whether p, a URL's port, is a TCP port: url.Parse
// takes any digits.
func ValidPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// ServerSettings returns s; function configs embed Server and so implement
// serve.Settings.
func (s Server) ServerSettings() Server { return s }
