package docs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/testenv"
)

// TestEveryVariableIsDocumented: every variable an envconfig tag of the
// sources names has its row in docs/configuration.md's table.
func TestEveryVariableIsDocumented(t *testing.T) {
	root, err := testenv.ModuleRoot()
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(root, "docs", "configuration.md"))
	require.NoError(t, err)
	names, err := testenv.Variables()
	require.NoError(t, err)
	for _, n := range names {
		assert.True(t, strings.Contains(string(b), "\n| `"+n+"` |"), "%s has no row in docs/configuration.md", n)
	}
}
