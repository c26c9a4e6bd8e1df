package ingest_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/auth"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/ingest"
	"github.com/eventfn/eventfn/shared/testenv"
)

// TestIngestTakesANewKeysFileWithoutRestart: a key added to API_KEYS_FILE
// is accepted and a key removed from it refused within seconds (ingest
// reads the file every auth.ReloadEvery); a malformed file changes nothing.
func TestIngestTakesANewKeysFileWithoutRestart(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "api-keys")
	write := func(content string) {
		require.NoError(t, os.WriteFile(file+".tmp", []byte(content), 0o600))
		require.NoError(t, os.Rename(file+".tmp", file))
	}
	write("wk_first=shop:write\n")
	h := newHarness(t, testenv.NATSURL(), func(c *ingest.Config) { c.Auth = config.Auth{APIKeysFile: file} })
	require.Equal(t, http.StatusAccepted, h.post(t, "wk_first", structured, ce("k1")).status)
	require.Equal(t, http.StatusUnauthorized, h.post(t, "wk_second", structured, ce("k2")).status)

	write("wk_second=shop:write\n")
	testenv.Eventually(t, 15*time.Second, func() bool {
		return h.post(t, "wk_second", structured, ce("k2")).status == http.StatusAccepted
	}, "the new key is accepted")
	assert.Equal(t, http.StatusUnauthorized, h.post(t, "wk_first", structured, ce("k3")).status, "the removed key is revoked")

	write("wk_second=shop:write\nwk_third=shop:owner\n")
	// The broken file is read within a second or two; the keys stay the
	// same meanwhile and after, so any moment shows the same answers.
	for deadline := time.Now().Add(3 * auth.ReloadEvery); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		assert.Equal(t, http.StatusAccepted, h.post(t, "wk_second", structured, ce("k4")).status)
		assert.Equal(t, http.StatusUnauthorized, h.post(t, "wk_third", structured, ce("k5")).status)
	}
}
