package drill

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is one child process of the drill: a server or a function. It
// runs in a process group of its own, so that a kill reaches it and
// nothing else, and dies with the drill (SIGKILL on the parent's death).
// Its output is appended to one log file across restarts.
type Process struct {
	// Name names the process in logs and errors ("ingest-1").
	Name string
	path string
	args []string
	env  []string
	log  string
	cred *syscall.Credential

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // the last exit's error
	killed bool  // the last exit was the drill's doing
	exits  int   // exits the drill did not cause
}

// NewProcess describes a process; Start runs it. env is its whole
// environment: nothing of the drill's own is passed on.
func NewProcess(name, logPath, path string, args, env []string) *Process {
	if env == nil {
		env = []string{} // nil would pass the drill's environment on
	}
	return &Process{Name: name, path: path, args: args, env: env, log: logPath}
}

// Start runs the process. It fails if it is running already.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s: already running", p.Name)
	}
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: log: %w", p.Name, err)
	}
	fmt.Fprintf(out, "--- drill: start %s at %s\n", p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: p.cred}
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return fmt.Errorf("%s: start: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.killed = cmd, done, false
	go func() {
		err := cmd.Wait()
		_ = out.Close()
		p.mu.Lock()
		p.err = err
		if !p.killed {
			p.exits++
		}
		p.cmd = nil
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Running reports whether the process is running (a stopped one is).
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// Pid is the running process's id, 0 when it is not running.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// UnexpectedExits counts the exits the drill did not cause: crashes.
func (p *Process) UnexpectedExits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exits
}

// Signal sends sig to the process's group.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return fmt.Errorf("%s: not running", p.Name)
	}
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Kill sends SIGKILL to the process's group and waits until it is gone.
func (p *Process) Kill() error { return p.Terminate(syscall.SIGKILL, 0) }

// Terminate sends sig to the process's group, waits up to grace for the
// process to end, then kills the group. The exit counts as the drill's.
func (p *Process) Terminate(sig syscall.Signal, grace time.Duration) error {
	p.mu.Lock()
	if p.cmd == nil {
		p.mu.Unlock()
		return nil
	}
	pid, done := p.cmd.Process.Pid, p.done
	p.killed = true
	p.mu.Unlock()
	// A stopped process acts on no signal but SIGKILL until it is continued.
	_ = syscall.Kill(-pid, syscall.SIGCONT)
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%s: signal: %w", p.Name, err)
	}
	if sig != syscall.SIGKILL {
		select {
		case <-done:
			return nil
		case <-time.After(grace):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s: still running 30s after SIGKILL", p.Name)
	}
}

// Exited returns a channel closed when the current run ends, and nil when
// the process is not running.
func (p *Process) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	return p.done
}

// MarkExpectedExit tells the process that its next exit is the drill's
// doing (a server stopped by its own tool, such as pg_ctl stop).
func (p *Process) MarkExpectedExit() {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
}

// Wait waits up to d for the current run to end.
func (p *Process) Wait(d time.Duration) error {
	ch := p.Exited()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-time.After(d):
		return fmt.Errorf("%s: still running after %s", p.Name, d)
	}
}
