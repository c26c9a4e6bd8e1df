package validate

import (
	"os"
	"testing"
)

// TestMain clears the variables stack.yml substitutes, so that the checks
// see the file's own defaults wherever the tests run (a CI that exports
// REGISTRY or TAG for its image builds included). compose-go is given an
// empty environment by CheckCompose for the same reason.
func TestMain(m *testing.M) {
	for _, v := range []string{"REGISTRY", "TAG"} {
		os.Unsetenv(v)
	}
	os.Exit(m.Run())
}
