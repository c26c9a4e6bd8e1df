package validate

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServicesScriptParses: scripts/services is valid bash.
func TestServicesScriptParses(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("bash", "-n", repo(t).Path("scripts/services")).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// TestServicesDatabaseName runs the script's database_name (the script,
// sourced, defines its functions without running): the database it creates
// for `make run` is the one DATABASE_URL names, and only on the local server.
func TestServicesDatabaseName(t *testing.T) {
	t.Parallel()
	script := repo(t).Path("scripts/services")
	for _, tc := range []struct{ url, want string }{
		{"postgres://postgres@127.0.0.1:5432/eventfn?sslmode=disable", "eventfn"},
		{"postgres://postgres@127.0.0.1:5432/audit-dep?sslmode=disable", "audit-dep"}, // not "audit"
		{"postgresql://postgres@localhost/eventfn.test_2", "eventfn.test_2"},
		{"postgres://u:p%40ss@localhost:5432/my%20db#frag", "my db"},
		{"postgres://127.0.0.1/caf%C3%A9", "café"},
		{"postgres://u:p@ss@127.0.0.1/db", "db"}, // an unescaped '@' in the password
		{"postgres:///eventfn", "eventfn"},       // the local socket
		{"postgres://[::1]:5432/v6", "v6"},
		{"postgres://postgres@db.example.com:5432/eventfn", ""}, // remote: left alone
		{"postgres://postgres@127.0.0.1:5433/eventfn", ""},      // another server
		{"postgres://a@127.0.0.1,h2/eventfn", ""},               // several hosts
		{"postgres://postgres@127.0.0.1:5432", ""},              // no database
		{"postgres://postgres@127.0.0.1/?sslmode=disable", ""},
		{"postgres://127.0.0.1/bad%zz", ""},
		{"host=127.0.0.1 dbname=eventfn", ""}, // not a URL
		{"mysql://127.0.0.1/eventfn", ""},
	} {
		out, err := exec.Command("bash", "-c", `. "$1" && database_name "$2"`, "_", script, tc.url).CombinedOutput()
		require.NoError(t, err, "%s: %s", tc.url, out)
		assert.Equal(t, tc.want, strings.TrimSuffix(string(out), "\n"), tc.url)
	}
}
