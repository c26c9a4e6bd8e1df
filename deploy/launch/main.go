// Command launch is the entrypoint of every eventfn container image. It
// exists because the images are distroless (no shell) and the platforms
// differ in how they hand over secrets and check health:
//
//	launch PROGRAM [ARG...]  sets the variables named by ENV_FROM_FILES from
//	                         files, then replaces itself with PROGRAM (exec:
//	                         PROGRAM becomes PID 1 and gets the signals)
//	launch health            exits 0 when GET http://127.0.0.1:$PORT/_/health
//	                         answers 200 (the Docker HEALTHCHECK)
//
// ENV_FROM_FILES is a comma-separated list of NAME=PATH. OpenFaaS mounts a
// secret as a file only (/var/openfaas/secrets/<name>) while the functions
// read DATABASE_URL from the environment; on OpenFaaS the stack sets
// ENV_FROM_FILES=DATABASE_URL=/var/openfaas/secrets/eventfn-database-url.
// A listed file that is missing or empty stops the start with a message
// naming the variable, as an invalid setting does. Without ENV_FROM_FILES
// the environment is passed through unchanged.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// envFromFiles names the variable that lists NAME=PATH pairs.
const envFromFiles = "ENV_FROM_FILES"

// healthTimeout bounds one health probe; Docker's own timeout is longer.
const healthTimeout = 2 * time.Second

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: launch PROGRAM [ARG...] | launch health")
		os.Exit(2)
	}
	if os.Args[1] == "health" {
		if err := health(os.Getenv("PORT")); err != nil {
			fmt.Fprintf(os.Stderr, "launch health: %v\n", err)
			os.Exit(1)
		}
		return
	}
	env, err := withFiles(os.Environ(), os.Getenv(envFromFiles))
	if err != nil {
		fmt.Fprintf(os.Stderr, "launch: %v\n", err)
		os.Exit(1)
	}
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "launch: %v\n", err)
		os.Exit(127)
	}
	err = syscall.Exec(path, os.Args[1:], env)
	fmt.Fprintf(os.Stderr, "launch: exec %s: %v\n", path, err)
	os.Exit(126)
}

// withFiles returns env with each NAME=PATH of spec set to the trimmed
// content of PATH. It fails on a malformed entry or a missing or empty file,
// naming the variable.
func withFiles(env []string, spec string) ([]string, error) {
	if strings.TrimSpace(spec) == "" {
		return env, nil
	}
	set := map[string]string{}
	for _, entry := range strings.Split(spec, ",") {
		name, path, ok := strings.Cut(strings.TrimSpace(entry), "=")
		if !ok || !envName.MatchString(name) || path == "" || name == envFromFiles {
			return nil, fmt.Errorf("%s entry %q is not NAME=PATH", envFromFiles, entry)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: read %s (%s): %w", name, path, envFromFiles, err)
		}
		// Secrets made with echo or an editor end in a newline; no value
		// of ours starts or ends with white space.
		v := strings.TrimSpace(string(b))
		if v == "" {
			return nil, fmt.Errorf("%s: %s is empty (%s)", name, path, envFromFiles)
		}
		set[name] = v
	}
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); set[name] == "" {
			out = append(out, kv)
		}
	}
	for name, v := range set {
		out = append(out, name+"="+v)
	}
	return out, nil
}

// health probes the function's liveness path on the local port.
func health(port string) error {
	if port == "" {
		port = "8080"
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/_/health", nil)
	if err != nil {
		return fmt.Errorf("PORT %q: %w", port, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("/_/health answered " + resp.Status)
	}
	return nil
}
