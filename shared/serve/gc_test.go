package serve_test

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/stretchr/testify/assert"

	"github.com/eventfn/eventfn/shared/serve"
)

// gcPercent reads the collector's target without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestTuneGCSetsTheFunctionsTargetUnlessGOGCIsSet: a function's target
// applies and is restored; a GOGC in the environment wins.
func TestTuneGCSetsTheFunctionsTargetUnlessGOGCIsSet(t *testing.T) {
	before := gcPercent()
	t.Run("unset", func(t *testing.T) {
		unsetEnv(t, "GOGC")
		restore := serve.TuneGC(&serve.Function{GCPercent: before + 300})
		assert.Equal(t, before+300, gcPercent())
		restore()
		assert.Equal(t, before, gcPercent())
	})
	t.Run("set", func(t *testing.T) {
		t.Setenv("GOGC", "150")
		restore := serve.TuneGC(&serve.Function{GCPercent: before + 300})
		assert.Equal(t, before, gcPercent(), "GOGC from the environment wins")
		restore()
	})
	t.Run("none", func(t *testing.T) {
		unsetEnv(t, "GOGC")
		restore := serve.TuneGC(&serve.Function{})
		assert.Equal(t, before, gcPercent())
		restore()
	})
}

// unsetEnv removes name for the rest of t; t.Setenv puts back what the
// caller's environment had.
func unsetEnv(t *testing.T, name string) {
	t.Setenv(name, "")
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

// TestLimitMemoryKeepsTheHeapUnderTheContainersLimit: the collector's
// soft limit becomes memoryShare of the container's limit; a GOMEMLIMIT
// in the environment wins, AUTOMEMLIMIT=off turns it off, and no limit
// changes nothing. Each case restores what it found.
func TestLimitMemoryKeepsTheHeapUnderTheContainersLimit(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	var limit uint64 = 512 << 20
	before := debug.SetMemoryLimit(-1)
	t.Run("limited", func(t *testing.T) {
		unsetEnv(t, "GOMEMLIMIT")
		unsetEnv(t, "AUTOMEMLIMIT")
		restore := serve.LimitMemory(log, memlimit.Limit(limit))
		assert.Equal(t, int64(float64(limit)*0.9), debug.SetMemoryLimit(-1), "90 percent of the container's limit")
		restore()
		assert.Equal(t, before, debug.SetMemoryLimit(-1))
	})
	t.Run("GOMEMLIMIT set", func(t *testing.T) {
		t.Setenv("GOMEMLIMIT", "300MiB")
		unsetEnv(t, "AUTOMEMLIMIT")
		restore := serve.LimitMemory(log, memlimit.Limit(limit))
		defer restore()
		assert.Equal(t, before, debug.SetMemoryLimit(-1), "GOMEMLIMIT from the environment wins")
	})
	t.Run("off", func(t *testing.T) {
		unsetEnv(t, "GOMEMLIMIT")
		t.Setenv("AUTOMEMLIMIT", "off")
		restore := serve.LimitMemory(log, memlimit.Limit(limit))
		defer restore()
		assert.Equal(t, before, debug.SetMemoryLimit(-1))
	})
	t.Run("no limit", func(t *testing.T) {
		unsetEnv(t, "GOMEMLIMIT")
		unsetEnv(t, "AUTOMEMLIMIT")
		restore := serve.LimitMemory(log, func() (uint64, error) { return 0, memlimit.ErrNoLimit })
		defer restore()
		assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1))
	})
}
