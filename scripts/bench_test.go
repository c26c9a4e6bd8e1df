package scripts_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestBenchUsageFirst: scripts/bench with no or a wrong argument prints
// its usage and touches nothing: the services script never runs (it would
// make its state directory and log a line).
func TestBenchUsageFirst(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"frob"}, {"-h"}} {
		state := filepath.Join(t.TempDir(), "state")
		out, code := command(t, []string{"EVENTFN_STATE_DIR=" + state}, "scripts/bench", args...)
		assert.Equal(t, 2, code, "%q: %s", args, out)
		assert.True(t, strings.HasPrefix(out, "usage: scripts/bench <ingest|consume|e2e [-sustain 5m]|stats>"), "%q: %s", args, out)
		assert.NotContains(t, out, "services:", "%q", args)
		_, err := os.Stat(state)
		assert.True(t, os.IsNotExist(err), "%q: scripts/services ran", args)
	}
}
