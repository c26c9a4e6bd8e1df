package serve_test

import (
	"os"
	"runtime/debug"
	"testing"

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
