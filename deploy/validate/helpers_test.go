package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// repo is the repository this module sits in.
func repo(t testing.TB) Repo {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return Repo{Root: root}
}

// brokenCopy writes a copy of src (a repository path) into a temporary
// directory with every old replaced by new, and returns the copy's path. It fails
// the test when old is not in src, so a seeded mistake cannot silently
// stop applying after the real file changes.
func brokenCopy(t testing.TB, src, old, new string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.Contains(t, string(data), old, "the seeded mistake must apply to %s", src)
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	require.NoError(t, os.WriteFile(dst, []byte(strings.ReplaceAll(string(data), old, new)), 0o644))
	return dst
}

// brokenDir copies the manifests of dir into a temporary directory, with
// old replaced by new in the file named file, and returns the copy.
func brokenDir(t testing.TB, dir, file, old, new string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	found := false
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		if e.Name() == file {
			found = true
			require.Contains(t, string(data), old, "the seeded mistake must apply to %s", file)
			data = []byte(strings.Replace(string(data), old, new, 1))
		}
		require.NoError(t, os.WriteFile(filepath.Join(out, e.Name()), data, 0o644))
	}
	require.True(t, found, "no file %s in %s", file, dir)
	return out
}

func removeFile(dir, name string) error { return os.Remove(filepath.Join(dir, name)) }
