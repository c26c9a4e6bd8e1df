package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Names of what the drill creates in its own PostgreSQL: the functions
// connect as appRole, which is no superuser, so that the connection limit
// binds them (superusers keep reserved slots).
const (
	appRole     = "eventfn"
	appDatabase = "eventfn"
	// maxConnections is the cluster's limit: room for every function's
	// pool, small enough to exhaust in a moment.
	maxConnections = 100
)

// Postgres is a PostgreSQL cluster of the drill's own, made by initdb in
// its own data directory (or by pg_basebackup from a primary) and served
// on its own loopback port. Its postmaster is a child of the drill.
type Postgres struct {
	w    *workspace
	bin  string
	dir  string
	port int
	proc *Process
}

// pgBin finds the newest PostgreSQL server installation: Debian keeps
// each version's programs in /usr/lib/postgresql/N/bin.
func pgBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(dirs, func(a, b string) int { return pgVersion(a) - pgVersion(b) })
	if len(dirs) > 0 {
		return filepath.Dir(dirs[len(dirs)-1]), nil
	}
	return "", errors.New("no PostgreSQL server programs in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
}

func pgVersion(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// startPrimary makes a new cluster with initdb, starts it, and creates the
// role and database the functions use.
func startPrimary(ctx context.Context, w *workspace, bin string) (*Postgres, error) {
	dir, err := w.pgDir("pg-primary")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	port, err := w.ports.next()
	if err != nil {
		return nil, err
	}
	if err := w.runPG(ctx, 2*time.Minute, filepath.Join(bin, "initdb"), "-D", dir, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	conf := fmt.Sprintf("\n# eventfn drill\nlisten_addresses = '127.0.0.1'\nport = %d\n"+
		"unix_socket_directories = ''\nmax_connections = %d\nwal_level = replica\n"+
		"hot_standby = on\nhot_standby_feedback = on\n", port, maxConnections)
	if err := appendFile(filepath.Join(dir, "postgresql.conf"), conf); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pg := &Postgres{w: w, bin: bin, dir: dir, port: port}
	if err := pg.Start(ctx); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, pg.SuperURL("postgres"))
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		"CREATE ROLE " + appRole + " LOGIN",
		"CREATE DATABASE " + appDatabase + " OWNER " + appRole,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("postgres: %s: %w", q, err)
		}
	}
	return pg, nil
}

// startReplica makes a streaming replica of pg with pg_basebackup -R and
// starts it on a port of its own.
func (pg *Postgres) startReplica(ctx context.Context) (*Postgres, error) {
	dir, err := pg.w.pgDir("pg-replica")
	if err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	port, err := pg.w.ports.next()
	if err != nil {
		return nil, err
	}
	if err := pg.w.runPG(ctx, 5*time.Minute, filepath.Join(pg.bin, "pg_basebackup"), "-D", dir,
		"-h", "127.0.0.1", "-p", strconv.Itoa(pg.port), "-U", "postgres", "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	// The primary's settings came with the backup; the later line wins.
	if err := appendFile(filepath.Join(dir, "postgresql.conf"), fmt.Sprintf("\nport = %d\n", port)); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	r := &Postgres{w: pg.w, bin: pg.bin, dir: dir, port: port}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// Port is the cluster's TCP port.
func (pg *Postgres) Port() int { return pg.port }

// SuperURL is a superuser connection to database db.
func (pg *Postgres) SuperURL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, db)
}

// AppURL is the functions' connection: the eventfn role on its database.
func (pg *Postgres) AppURL() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", appRole, pg.port, appDatabase)
}

// Start runs the postmaster and waits until it answers queries.
func (pg *Postgres) Start(ctx context.Context) error {
	name := filepath.Base(pg.dir)
	if pg.proc == nil {
		pg.proc = NewProcess(name, pg.w.logPath(name), filepath.Join(pg.bin, "postgres"),
			[]string{"-D", pg.dir}, []string{"LC_ALL=C.UTF-8"})
		pg.proc.cred = pg.w.pgUser
	}
	if err := pg.proc.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := pg.ping(ctx)
		if err == nil {
			return nil
		}
		if !pg.proc.Running() || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not come up: %v\n%s", name, err, tail(pg.proc.log, 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (pg *Postgres) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.SuperURL("postgres"))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// StopImmediate stops the cluster as `pg_ctl stop -m immediate` does: no
// checkpoint, every backend gone at once, crash recovery at the next
// start.
func (pg *Postgres) StopImmediate(ctx context.Context) error {
	pg.proc.MarkExpectedExit()
	if err := pg.w.runPG(ctx, time.Minute, filepath.Join(pg.bin, "pg_ctl"), "stop", "-D", pg.dir, "-m", "immediate", "-w"); err != nil {
		return err
	}
	return pg.proc.Wait(30 * time.Second)
}

// Close stops the cluster (immediate shutdown, then SIGKILL).
func (pg *Postgres) Close() {
	if pg != nil && pg.proc != nil {
		_ = pg.proc.Terminate(syscall.SIGQUIT, 10*time.Second)
	}
}

// exhaustConnections opens connections as the functions' role until the
// server refuses one for lack of slots, holds them for hold, then closes
// them. It returns how many it held.
func (pg *Postgres) exhaustConnections(ctx context.Context, hold time.Duration) (int, error) {
	var conns []*pgx.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close(context.Background())
		}
	}()
	for len(conns) < 4*maxConnections {
		c, err := pgx.Connect(ctx, pg.AppURL())
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "53300" { // too_many_connections
			select {
			case <-ctx.Done():
				return len(conns), ctx.Err()
			case <-time.After(hold):
			}
			return len(conns), nil
		}
		if err != nil {
			return len(conns), fmt.Errorf("exhaust connections: %w", err)
		}
		conns = append(conns, c)
	}
	return len(conns), fmt.Errorf("exhaust connections: no refusal after %d connections", len(conns))
}

// replicationLag returns how many bytes of WAL the replica r has still to
// replay to reach primary pg's current position.
func (pg *Postgres) replicationLag(ctx context.Context, r *Postgres) (int64, error) {
	p, err := pgx.Connect(ctx, pg.SuperURL("postgres"))
	if err != nil {
		return 0, err
	}
	defer p.Close(ctx)
	rc, err := pgx.Connect(ctx, r.SuperURL("postgres"))
	if err != nil {
		return 0, err
	}
	defer rc.Close(ctx)
	var replayed string
	if err := rc.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn(), '0/0')::text").Scan(&replayed); err != nil {
		return 0, err
	}
	var lag int64
	err = p.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint", replayed).Scan(&lag)
	return lag, err
}
