package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventfn/eventfn/shared/testenv"
)

// Keys of the benchmark's project.
const (
	writeKey = "wk_bench"
	readKey  = "rk_bench"
	project  = "bench"
)

// stack is the functions running as processes on the run's own services.
type stack struct {
	env   []string
	procs map[string]*exec.Cmd
	urls  map[string]string
	stops []func()
}

// stop ends the functions' processes. A burst stops its own once measured:
// a sustained run after it must not share the machine with them.
func (s *stack) stop() {
	for _, f := range s.stops {
		f()
	}
}

// buildFunctions builds the named functions as scripts/build-function
// does (go build of functions/<name>) into a directory of the run's own.
func buildFunctions(b *testing.B, names ...string) string {
	b.Helper()
	dir := b.TempDir()
	for _, name := range names {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./functions/"+name)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	return dir
}

// startStack starts one process of each named function from bin, with the
// run's own database, streams and key prefix, the defaults for everything
// else but the keys, logs at warn and (the benchmark measures capacity,
// not policy) no rate limits. extra adds settings.
func startStack(b *testing.B, bin string, names []string, extra ...string) *stack {
	b.Helper()
	nc := testenv.NATS(b, testenv.NATSURL())
	rc, _ := testenv.Redis(b)
	s := &stack{procs: map[string]*exec.Cmd{}, urls: map[string]string{}}
	s.env = []string{
		"DATABASE_URL=" + databaseURL(b), "REDIS_URL=" + rc.RedisURL, "REDIS_PREFIX=" + rc.RedisPrefix,
		"NATS_URL=" + nc.NATSURL, "NATS_STREAM=" + nc.Stream, "NATS_SUBJECT=" + nc.Subject, "NATS_CONSUMER=" + nc.Consumer,
		"NATS_DLQ_STREAM=" + nc.DLQStream, "NATS_DLQ_SUBJECT=" + nc.DLQSubject,
		"API_KEYS=" + writeKey + "=" + project + ":write," + readKey + "=" + project + ":read",
		"RATE_LIMIT_EVENTS_PER_SECOND=0", "RATE_LIMIT_REQUESTS_PER_MINUTE=0",
		"CONSUME_CONTINUOUS=true", "LOG_LEVEL=warn",
	}
	s.env = append(s.env, extra...)
	for _, name := range names {
		port := freePort(b)
		cmd := exec.Command(filepath.Join(bin, name))
		cmd.Env = append(cleanEnv(), append(s.env, "PORT="+strconv.Itoa(port))...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatalf("start %s: %v", name, err)
		}
		go relay(name, stderr)
		s.procs[name] = cmd
		s.urls[name] = fmt.Sprintf("http://127.0.0.1:%d", port)
		stop := sync.OnceFunc(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		})
		s.stops = append(s.stops, stop)
		b.Cleanup(stop)
	}
	for name, url := range s.urls {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			resp, err := http.Get(url + "/readyz")
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s not ready: %v", name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return s
}

// databaseURL is the run's database: EVENTFN_BENCH_DATABASE_URL when set
// (one holding data already, such as the stats bench's 10M events kept
// with EVENTFN_BENCH_STATS_DATABASE_URL; the run adds its events on top
// and removes nothing), else a new one of its own.
func databaseURL(b *testing.B) string {
	if url := os.Getenv("EVENTFN_BENCH_DATABASE_URL"); url != "" {
		return url
	}
	return testenv.Database(b)
}

// cleanEnv is this process's environment without eventfn's own settings,
// so that the caller's shell cannot change what is measured.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "EVENTFN_") || eventfnSetting(name) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// eventfnSetting reports whether name is one of the functions' settings.
func eventfnSetting(name string) bool {
	for _, p := range []string{"DATABASE_", "REDIS_", "NATS_", "API_KEYS", "AUTH_", "ADMIN_KEY", "CONSUME_", "ROLLUP_",
		"RATE_LIMIT_", "MAX_", "STATS_", "ARCHIVE_", "HOT_DAYS", "PUBLISH_TIMEOUT", "DEDUP_WINDOW", "ACK_WAIT",
		"LOG_LEVEL", "PORT", "SHUTDOWN_TIMEOUT", "GATEWAY_ADDR", "TRUST_FORWARDED_FOR", "CORS_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func freePort(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// relay copies a function's log lines to the benchmark's output.
func relay(name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fmt.Fprintf(os.Stderr, "[%s] %s\n", name, sc.Text())
	}
}

// peakRSS returns the peak resident memory of a function's process.
func (s *stack) peakRSS(name string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.procs[name].Process.Pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// metric returns the value of an unlabelled series from a function's
// /metrics, or -1.
func (s *stack) metric(ctx context.Context, name, series string) float64 {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.urls[name]+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// cpuSeconds returns the CPU time (user and system) of every live process
// on the machine, summed by command name: the functions, PostgreSQL's
// backends, Redis, NATS and this benchmark alike. A process that exits in
// between is not counted: a rough split, not an account.
func cpuSeconds() map[string]float64 {
	out := map[string]float64{}
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || closing < open {
			continue
		}
		// After the name: state, ppid, ... utime (12th), stime (13th).
		f := strings.Fields(string(b[closing+1:]))
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		out[string(b[open+1:closing])] += (utime + stime) / 100 // USER_HZ
	}
	return out
}

// cpuSplit says which commands used the CPU between two cpuSeconds
// readings, as shares of the machine's cores over wall, largest first.
func cpuSplit(before, after map[string]float64, wall time.Duration) string {
	type use struct {
		name string
		secs float64
	}
	var uses []use
	for name, secs := range after {
		if d := secs - before[name]; d > 0 {
			uses = append(uses, use{name, d})
		}
	}
	slices.SortFunc(uses, func(a, b use) int { return cmp.Compare(b.secs, a.secs) })
	capacity := wall.Seconds() * float64(runtime.NumCPU())
	var parts []string
	for _, u := range uses {
		if share := 100 * u.secs / capacity; share >= 1 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", u.name, share))
		}
	}
	return fmt.Sprintf("%s of %d cores", strings.Join(parts, ", "), runtime.NumCPU())
}
