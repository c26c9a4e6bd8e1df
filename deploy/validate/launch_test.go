package validate

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// launcher builds the image's entrypoint with the build script.
func launcher(t *testing.T) string {
	t.Helper()
	r := repo(t)
	bin := filepath.Join(t.TempDir(), "launch")
	out, err := exec.Command(r.Path(BuildScript), "deploy/launch", bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// run runs the launcher with env (and nothing else) and returns its exit
// code, standard output and standard error.
func run(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, stdout.String(), stderr.String()
}

// TestLauncherSetsSecretsFromFiles: on OpenFaaS, DATABASE_URL lives in a
// secret file; the launcher puts it in the environment and execs the
// function, which then is the process (signals reach it directly).
func TestLauncherSetsSecretsFromFiles(t *testing.T) {
	t.Parallel()
	bin := launcher(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "eventfn-database-url")
	require.NoError(t, os.WriteFile(secret, []byte("postgres://u:p@db:5432/eventfn\n"), 0o600))
	keys := filepath.Join(dir, "keys")
	require.NoError(t, os.WriteFile(keys, []byte("  wk=shop:write \n"), 0o600))

	code, out, errOut := run(t, bin,
		[]string{"ENV_FROM_FILES=DATABASE_URL=" + secret + ", API_KEYS=" + keys, "DATABASE_URL=from-env", "KEEP=kept"},
		"/bin/sh", "-c", `printf '%s|%s|%s|%s' "$DATABASE_URL" "$API_KEYS" "$KEEP" "$$"`)
	require.Equal(t, 0, code, errOut)
	parts := strings.Split(out, "|")
	require.Len(t, parts, 4)
	assert.Equal(t, "postgres://u:p@db:5432/eventfn", parts[0], "the file wins, trimmed")
	assert.Equal(t, "wk=shop:write", parts[1])
	assert.Equal(t, "kept", parts[2], "the rest of the environment is passed on")

	// exec, not a child: the shell has the launcher's PID.
	cmd := exec.Command(bin, "/bin/sh", "-c", `echo $$`)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	require.NoError(t, cmd.Wait())
	assert.Equal(t, strconv.Itoa(pid), strings.TrimSpace(stdout.String()))
}

// TestLauncherRefusesMissingSecrets: a listed file that is missing or empty,
// or a malformed list, stops the start with a message naming the variable.
func TestLauncherRefusesMissingSecrets(t *testing.T) {
	t.Parallel()
	bin := launcher(t)
	empty := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	cases := []struct{ name, spec, wantErr string }{
		{"missing file", "DATABASE_URL=/nonexistent/eventfn-database-url", "DATABASE_URL: read /nonexistent/eventfn-database-url"},
		{"empty file", "DATABASE_URL=" + empty, "DATABASE_URL: " + empty + " is empty"},
		{"not NAME=PATH", "DATABASE_URL", `ENV_FROM_FILES entry "DATABASE_URL" is not NAME=PATH`},
		{"bad name", "DATABASE-URL=" + empty, "is not NAME=PATH"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, bin, []string{"ENV_FROM_FILES=" + tc.spec}, "/bin/echo", "started")
			assert.Equal(t, 1, code)
			assert.Empty(t, out, "the program must not start")
			assert.Contains(t, errOut, tc.wantErr)
		})
	}
}

// TestLauncherHealth: `launch health` is the image's HEALTHCHECK; it
// passes only when /_/health on $PORT answers 200.
func TestLauncherHealth(t *testing.T) {
	t.Parallel()
	bin := launcher(t)
	serve := func(status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/_/health" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
		require.NoError(t, err)
		return port
	}
	code, _, errOut := run(t, bin, []string{"PORT=" + serve(http.StatusOK)}, "health")
	assert.Equal(t, 0, code, errOut)

	code, _, errOut = run(t, bin, []string{"PORT=" + serve(http.StatusServiceUnavailable)}, "health")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "503")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, closed, _ := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, ln.Close())
	code, _, _ = run(t, bin, []string{"PORT=" + closed}, "health")
	assert.Equal(t, 1, code, "nothing listening")
}
