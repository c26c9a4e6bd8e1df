package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMakeRunShowsItsBuild: `make run` says it is building, and says more
// the first time (modules to download, hundreds of packages), and the
// build lists each package as it compiles (go build -v, through GOFLAGS,
// added to the caller's). A stand-in go records how it was called and
// fails, which stops make before the gateway would start.
func TestMakeRunShowsItsBuild(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed: %v", err)
	}
	dir := t.TempDir()
	record := filepath.Join(dir, "go.log")
	fakeGo := filepath.Join(dir, "go")
	require.NoError(t, os.WriteFile(fakeGo, []byte("#!/bin/sh\necho \"GOFLAGS=$GOFLAGS $*\" > '"+record+"'\nexit 3\n"), 0o755))
	// -o services: the services are taken as ready (make test set them up).
	cmd := exec.Command("make", "-o", "services", "run", "GO="+fakeGo)
	cmd.Dir = repoPath(t, ".")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the stand-in go fails: %s", out)
	b, err := os.ReadFile(record)
	require.NoError(t, err, "make run called go: %s", out)
	assert.Equal(t, "GOFLAGS=-mod=readonly -v build -o .run/gateway ./cmd/gateway\n", string(b))
	if _, err := os.Stat(repoPath(t, ".run/gateway")); os.IsNotExist(err) {
		assert.Contains(t, string(out), "make run: first build of the gateway: Go downloads the modules")
	} else {
		assert.Contains(t, string(out), "make run: building the gateway")
	}
	assert.False(t, strings.Contains(string(out), "starting the gateway"), "stopped at the failed build")
}
