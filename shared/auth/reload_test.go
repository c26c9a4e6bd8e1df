package auth_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/auth"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/testenv"
)

// eventually polls cond every few milliseconds for up to 10 s: the file is
// read every 20 ms in these tests, so a change shows well within that.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writeFile replaces path's content at once, as a secret update does.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func authorized(keys *auth.Keys, key string, role auth.Role) bool {
	_, err := keys.Authorize(bearer(key), role)
	return err == nil
}

func watched(t *testing.T, cfg config.Auth) (*auth.Keys, *testenv.Buffer) {
	t.Helper()
	keys, err := auth.New(cfg)
	require.NoError(t, err)
	var logs testenv.Buffer
	stop := keys.Watch(slog.New(slog.NewJSONHandler(&logs, nil)), 20*time.Millisecond)
	t.Cleanup(stop)
	return keys, &logs
}

// TestChangedKeysFileTakesEffect: a key added to API_KEYS_FILE works and a
// key removed from it stops working, without a restart; API_KEYS stays.
func TestChangedKeysFileTakesEffect(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "api-keys")
	writeFile(t, file, "wk_old=shop:write\n")
	keys, logs := watched(t, config.Auth{APIKeys: "rk_env=shop:read", APIKeysFile: file})
	require.True(t, authorized(keys, "wk_old", auth.RoleWrite))
	require.False(t, authorized(keys, "wk_new", auth.RoleWrite))

	writeFile(t, file, "wk_new=shop:write\n")
	eventually(t, func() bool { return authorized(keys, "wk_new", auth.RoleWrite) }, "the added key works")
	assert.False(t, authorized(keys, "wk_old", auth.RoleWrite), "the removed key is revoked")
	assert.True(t, authorized(keys, "rk_env", auth.RoleRead), "API_KEYS keeps its keys")
	assert.Equal(t, 2, keys.Len())
	// The watcher logs after it swapped the keys: the line may come a
	// moment after the new key works.
	eventually(t, func() bool { return strings.Contains(logs.String(), "API_KEYS_FILE changed: keys reloaded") }, "the reload is logged")
	assert.NotContains(t, logs.String(), "wk_new", "no key in the log")

	// An empty file is valid: no file keys at all.
	writeFile(t, file, "")
	eventually(t, func() bool { return !authorized(keys, "wk_new", auth.RoleWrite) }, "every file key revoked")
	assert.True(t, authorized(keys, "rk_env", auth.RoleRead))
}

// TestBrokenKeysFileKeepsTheOldKeys: a malformed file, a file whose key
// clashes with API_KEYS, or a missing file is refused and logged once;
// the previous keys stay until a valid file comes.
func TestBrokenKeysFileKeepsTheOldKeys(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "api-keys")
	writeFile(t, file, "wk_good=shop:write\n")
	keys, logs := watched(t, config.Auth{APIKeys: "rk_env=shop:read", APIKeysFile: file})

	for i, tc := range []struct{ content, why string }{
		{"wk_good=shop:write\nwk_secret_new=shop:admin\n", `role \"admin\" is not write or read`},
		{"wk_good=shop:write\nwk_secret_new;shop:read\n", "is not KEY=PROJECT:ROLE"},
		{"rk_env=other:read\n", "a key is listed twice with different projects or roles"},
		{"", "no such file or directory"}, // removed: see below
	} {
		if tc.why == "no such file or directory" {
			require.NoError(t, os.Remove(file))
		} else {
			writeFile(t, file, tc.content)
		}
		eventually(t, func() bool { return strings.Count(logs.String(), "cannot be used") == i+1 }, "refusal "+tc.why+" logged")
		assert.Contains(t, logs.String(), tc.why)
		assert.True(t, authorized(keys, "wk_good", auth.RoleWrite), "the previous keys stay (%s)", tc.why)
		assert.True(t, authorized(keys, "rk_env", auth.RoleRead))
		assert.False(t, authorized(keys, "wk_secret_new", auth.RoleWrite))
	}
	assert.NotContains(t, logs.String(), "wk_secret_new", "no key in the log")
	// Each refusal is logged once, not at every read: some more reads of
	// the same missing file go by (with correct code the count stays 4
	// however long this is; it cannot make the test pass by timing).
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 4, strings.Count(logs.String(), "cannot be used"))

	writeFile(t, file, "wk_fixed=shop:write\n")
	eventually(t, func() bool { return authorized(keys, "wk_fixed", auth.RoleWrite) }, "a valid file is taken again")
	assert.False(t, authorized(keys, "wk_good", auth.RoleWrite))
}

// TestKeysFileSwappedAsKubernetesDoes: a secret volume's file is a
// symbolic link through ..data to a directory that an update replaces;
// the new file may carry an older time. The content decides.
func TestKeysFileSwappedAsKubernetesDoes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	version := func(name, content string) {
		require.NoError(t, os.Mkdir(filepath.Join(dir, name), 0o755))
		f := filepath.Join(dir, name, "api-keys")
		require.NoError(t, os.WriteFile(f, []byte(content), 0o600))
		old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		require.NoError(t, os.Chtimes(f, old, old))
	}
	version("..2026_12_01_a", "wk_first=shop:write\n")
	require.NoError(t, os.Symlink("..2026_12_01_a", filepath.Join(dir, "..data")))
	require.NoError(t, os.Symlink("..data/api-keys", filepath.Join(dir, "api-keys")))
	keys, _ := watched(t, config.Auth{APIKeysFile: filepath.Join(dir, "api-keys")})
	require.True(t, authorized(keys, "wk_first", auth.RoleWrite))

	version("..2026_12_01_b", "wk_second=shop:write\n")
	require.NoError(t, os.Symlink("..2026_12_01_b", filepath.Join(dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	eventually(t, func() bool { return authorized(keys, "wk_second", auth.RoleWrite) }, "the swapped secret's key works")
	assert.False(t, authorized(keys, "wk_first", auth.RoleWrite))
}

// TestReloadWithoutAFile: with API_KEYS alone there is nothing to watch.
func TestReloadWithoutAFile(t *testing.T) {
	keys, err := auth.New(config.Auth{APIKeys: "wk_a=shop:write"})
	require.NoError(t, err)
	changed, err := keys.Reload()
	assert.False(t, changed)
	assert.NoError(t, err)
	keys.Watch(slog.New(slog.DiscardHandler), time.Millisecond)() // starts nothing; stop returns at once
	assert.True(t, authorized(keys, "wk_a", auth.RoleWrite))
}
