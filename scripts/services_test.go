package scripts_test

import (
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/testenv"
)

// starters are the commands scripts/services could start or install a
// service with; the tests put recording stand-ins in their place.
var starters = []string{"docker", "apt-get", "psql", "redis-server", "nats-server", "pg_ctlcluster", "pg_lsclusters", "runuser", "setsid"}

// listener is a TCP port that answers, standing for a service elsewhere.
func listener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestServicesChecksWhatTheURLsName: URLs naming other ports are checked
// there, and nothing is started, installed or queried on the standard
// ones (it ran SELECT 1 on :5432 while the database was on another port).
func TestServicesChecksWhatTheURLsName(t *testing.T) {
	t.Parallel()
	pg, rd, nt := listener(t), listener(t), listener(t)
	bin, log := stubs(t, starters...)
	out, code := command(t, []string{
		"PATH=" + bin + ":" + os.Getenv("PATH"),
		"EVENTFN_STATE_DIR=" + t.TempDir(),
		"DATABASE_URL=postgres://postgres@127.0.0.1:" + pg + "/eventfn?sslmode=disable",
		"REDIS_URL=redis://localhost:" + rd + "/0",
		"NATS_URL=nats://127.0.0.1:" + nt,
	}, "scripts/services")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "PostgreSQL: using 127.0.0.1:"+pg+" (DATABASE_URL)")
	assert.Contains(t, out, "Redis: using localhost:"+rd+" (REDIS_URL)")
	assert.Contains(t, out, "NATS: using 127.0.0.1:"+nt+" (NATS_URL)")
	assert.Contains(t, out, "not creating its database")
	assert.Empty(t, calls(t, log), "nothing started, installed or queried")
}

// TestServicesStopsWhenANamedServiceIsDown: a service the URLs name
// elsewhere that does not answer is reported by its variable, and nothing
// is started in its place.
func TestServicesStopsWhenANamedServiceIsDown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ variable, url, name string }{
		{"DATABASE_URL", "postgres://postgres@127.0.0.1:" + testenv.ClosedPort(t) + "/eventfn", "PostgreSQL"},
		{"REDIS_URL", "redis://127.0.0.1:" + testenv.ClosedPort(t) + "/0", "Redis"},
		{"NATS_URL", "nats://127.0.0.1:" + testenv.ClosedPort(t), "NATS"},
		{"REDIS_URL", "redis://cache.invalid:6379/0", "Redis"},
	} {
		bin, log := stubs(t, starters...)
		env := []string{
			"PATH=" + bin + ":" + os.Getenv("PATH"),
			"EVENTFN_STATE_DIR=" + t.TempDir(),
			// The others elsewhere too, answering, so only this one matters.
			"DATABASE_URL=postgres://postgres@127.0.0.1:" + listener(t) + "/eventfn",
			"REDIS_URL=redis://127.0.0.1:" + listener(t) + "/0",
			"NATS_URL=nats://127.0.0.1:" + listener(t),
			tc.variable + "=" + tc.url,
		}
		out, code := command(t, env, "scripts/services")
		assert.Equal(t, 1, code, "%s: %s", tc.url, out)
		assert.Contains(t, out, tc.name+" at ", tc.url)
		assert.Contains(t, out, "("+tc.variable+") does not answer", tc.url)
		assert.Empty(t, calls(t, log), "%s: nothing started in its place", tc.url)
	}
}

// TestServicesForTestsIgnoresTheRunSettings: `make test` sets up the
// tests' services (EVENTFN_TEST_*_URL), whatever DATABASE_URL and the
// others say: `DATABASE_URL=postgres://nowhere make test` works.
func TestServicesForTestsIgnoresTheRunSettings(t *testing.T) {
	t.Parallel()
	rd, nt := listener(t), listener(t)
	bin, log := stubs(t, starters...)
	out, code := command(t, []string{
		"PATH=" + bin + ":" + os.Getenv("PATH"),
		"EVENTFN_STATE_DIR=" + t.TempDir(),
		"DATABASE_URL=postgres://nowhere.invalid/x",
		"REDIS_URL=redis://nowhere.invalid:6379/0",
		"NATS_URL=nats://nowhere.invalid:4222",
		"EVENTFN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:" + listener(t) + "/postgres",
		"EVENTFN_TEST_REDIS_URL=redis://127.0.0.1:" + rd + "/0",
		"EVENTFN_TEST_NATS_URL=nats://127.0.0.1:" + nt,
	}, "scripts/services", "--for-tests")
	require.Equal(t, 0, code, out)
	assert.NotContains(t, out, "nowhere")
	assert.Contains(t, out, "(EVENTFN_TEST_DATABASE_URL)")
	assert.Contains(t, out, "Redis: using 127.0.0.1:"+rd+" (EVENTFN_TEST_REDIS_URL)")
	assert.NotContains(t, out, "not creating", "the tests make their own databases")
	// redis-server is looked up (the drills start it), and found: the stand-in.
	assert.Empty(t, calls(t, log))
}
