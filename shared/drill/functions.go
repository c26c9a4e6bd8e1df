package drill

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Binaries the drill runs: the functions as deployed, and nats-server
// built from the module go.mod pins (newer than Debian's).
var (
	functionBinaries = []string{"ingest", "consume-batch", "stats-dau", "stats-top", "stats-retention"}
	natsServerModule = "github.com/nats-io/nats-server/v2"
)

// Build compiles the functions the drill runs and nats-server into dir,
// from the module at root, each a separate program as deployed.
func Build(ctx context.Context, root, dir string) error {
	args := []string{"build", "-ldflags=-s -w", "-o", dir + string(filepath.Separator)}
	for _, f := range functionBinaries {
		args = append(args, "./functions/"+f)
	}
	args = append(args, natsServerModule)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	for _, name := range append(slices.Clone(functionBinaries), "nats-server") {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	return nil
}

// ModuleRoot returns the directory of the go.mod at or above dir.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod at or above %s", dir)
		}
	}
}

// function is one function process, serving HTTP on its own port.
type function struct {
	name string // ingest-1, stats-dau-replica
	port int
	proc *Process
}

// startFunction runs binary kind from bin as a process called name,
// configured by env alone (plus PORT), and waits until /readyz answers 200.
func startFunction(ctx context.Context, w *workspace, bin, kind, name string, env map[string]string) (*function, error) {
	port, err := w.ports.next()
	if err != nil {
		return nil, err
	}
	e := maps.Clone(env)
	e["PORT"] = strconv.Itoa(port)
	var list []string
	for _, k := range slices.Sorted(maps.Keys(e)) {
		list = append(list, k+"="+e[k])
	}
	f := &function{name: name, port: port, proc: NewProcess(name, w.logPath(name), filepath.Join(bin, kind), nil, list)}
	if err := f.proc.Start(); err != nil {
		return nil, err
	}
	if err := f.waitReady(ctx, 2*time.Minute); err != nil {
		_ = f.proc.Kill()
		return nil, err
	}
	return f, nil
}

// URL is the function's base URL; its work is at "/".
func (f *function) URL() string { return fmt.Sprintf("http://127.0.0.1:%d/", f.port) }

// ready reports whether the function answers /readyz with 200.
func (f *function) ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL()+"readyz", nil)
	if err != nil {
		return false
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (f *function) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !f.ready(ctx) {
		if !f.proc.Running() || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready within %s\n%s", f.name, timeout, tail(f.proc.log, 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// probeClient makes readiness probes on fresh connections, so that a
// probe never rides a connection a killed process left behind.
var probeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
