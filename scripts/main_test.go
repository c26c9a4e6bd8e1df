// Package scripts_test tests the scripts of scripts/ and the Makefile
// targets that are theirs, by running them.
package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// repoPath is path inside the repository.
func repoPath(t *testing.T, path string) string {
	t.Helper()
	root, err := testenv.ModuleRoot()
	require.NoError(t, err)
	return filepath.Join(root, path)
}

// stubs makes a directory of commands that only record their call (name
// and arguments, a line each, in the returned log), for the commands a
// script may use to start or install services; put first on PATH, they
// stand in for the real ones.
func stubs(t *testing.T, names ...string) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	for _, n := range names {
		script := "#!/bin/sh\necho \"" + n + " $*\" >> '" + log + "'\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte(script), 0o755))
	}
	return dir, log
}

// calls returns what the stubs recorded.
func calls(t *testing.T, log string) string {
	t.Helper()
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return ""
	}
	require.NoError(t, err)
	return string(b)
}

// command runs a script of the repository with env added to a copy of the
// environment, and returns its combined output and exit code.
func command(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(repoPath(t, name), args...)
	cmd.Dir = repoPath(t, ".")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err, "%s", out)
	}
	return string(out), code
}
