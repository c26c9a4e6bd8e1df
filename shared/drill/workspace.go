package drill

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// workspace is one drill run's directory, ports and logger. Every server
// and function of the run keeps its data and log under dir.
type workspace struct {
	dir   string
	ports *ports
	log   *slog.Logger
	// pgUser runs PostgreSQL's programs as the postgres user when the drill
	// runs as root: initdb and pg_ctl refuse root. nil otherwise.
	pgUser *syscall.Credential
}

func newWorkspace(parent string, log *slog.Logger) (*workspace, error) {
	dir, err := os.MkdirTemp(parent, "eventfn-drill-")
	if err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	// The postgres user must reach its data directory below this one.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	w := &workspace{dir: dir, ports: freePorts, log: log}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("workspace: running as root, PostgreSQL must run as user postgres: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		w.pgUser = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}
	return w, nil
}

// path is name's path inside the workspace.
func (w *workspace) path(name string) string { return filepath.Join(w.dir, name) }

// logPath is the log file of the process called name.
func (w *workspace) logPath(name string) string { return filepath.Join(w.dir, name+".log") }

// pgDir makes a directory the PostgreSQL user owns.
func (w *workspace) pgDir(name string) (string, error) {
	dir := w.path(name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	if w.pgUser != nil {
		if err := os.Chown(dir, int(w.pgUser.Uid), int(w.pgUser.Gid)); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// runPG runs one of PostgreSQL's programs to its end, as the postgres user
// when the drill is root, and returns its output in the error.
func (w *workspace) runPG(ctx context.Context, timeout time.Duration, path string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8"}
	if w.pgUser != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: w.pgUser}
		cmd.Dir = "/"
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(path), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// tail returns the last n bytes of the file at path, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(buf, off)
	return string(buf)
}
