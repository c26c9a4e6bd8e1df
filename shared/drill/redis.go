package drill

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"
)

// Redis is a redis-server of the drill's own, keeping nothing on disk: a
// restart loses every key, as a failed-over Redis without persistence
// would.
type Redis struct {
	port int
	proc *Process
}

func startRedis(ctx context.Context, w *workspace) (*Redis, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not on PATH (apt-get install redis-server): %w", err)
	}
	port, err := w.ports.next()
	if err != nil {
		return nil, err
	}
	r := &Redis{port: port, proc: NewProcess("redis", w.logPath("redis"), path,
		[]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", w.dir, "--protected-mode", "no"}, nil)}
	return r, r.Start(ctx)
}

// URL is the server's redis:// URL.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// Start runs the server and waits until it accepts connections.
func (r *Redis) Start(ctx context.Context) error {
	if err := r.proc.Start(); err != nil {
		return err
	}
	return waitTCP(ctx, r.proc, r.port, time.Minute)
}

// Close kills the server.
func (r *Redis) Close() {
	if r != nil {
		_ = r.proc.Kill()
	}
}

// waitTCP waits until something accepts connections on port, failing early
// if proc exits.
func waitTCP(ctx context.Context, proc *Process, port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		if !proc.Running() || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not come up on %s: %v\n%s", proc.Name, addr, err, tail(proc.log, 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
