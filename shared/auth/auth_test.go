package auth_test

import (
	"crypto/sha256"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/auth"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
)

func bearer(key string) http.Header {
	h := http.Header{}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	return h
}

func TestAuthorize(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(file, []byte("# secret mount\nrk_file=shop:read\n"), 0o600))
	keys, err := auth.New(config.Auth{APIKeys: "wk_abc=shop:write, rk_def=shop:read", APIKeysFile: file})
	require.NoError(t, err)
	tests := []struct {
		name     string
		key      string
		need     auth.Role
		wantCode event.Code
		project  string
	}{
		{"write key writes", "wk_abc", auth.RoleWrite, "", "shop"},
		{"read key reads", "rk_def", auth.RoleRead, "", "shop"},
		{"key from file", "rk_file", auth.RoleRead, "", "shop"},
		{"read key cannot write", "rk_def", auth.RoleWrite, event.CodeForbidden, ""},
		{"write key cannot read", "wk_abc", auth.RoleRead, event.CodeForbidden, ""},
		{"unknown key", "zzz", auth.RoleRead, event.CodeUnauthorized, ""},
		{"no key", "", auth.RoleRead, event.CodeUnauthorized, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := keys.Authorize(bearer(tc.key), tc.need)
			if tc.wantCode != "" {
				require.Error(t, err)
				assert.Equal(t, tc.wantCode, event.ErrorCode(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.project, p.Project)
		})
	}
}

func TestAuthDisabledMapsToDefault(t *testing.T) {
	keys, err := auth.New(config.Auth{AuthDisabled: true})
	require.NoError(t, err)
	p, err := keys.Authorize(http.Header{}, auth.RoleRead)
	require.NoError(t, err)
	assert.Equal(t, auth.DefaultProject, p.Project)
}

func TestNewRejectsMalformedEntriesWithoutShowingKeys(t *testing.T) {
	for _, entries := range []string{"secretkey", "secretkey=shop", "secretkey=shop:admin", "secretkey=bad.project:read",
		// Wrong order and wrong separators put keys where a project or role belongs.
		"shop:write=secretkey", "wk1=shop:read;secretkey=shop:read", "wk1=shop;secretkey=x:read"} {
		_, err := auth.New(config.Auth{APIKeys: entries})
		require.Error(t, err, entries)
		assert.Contains(t, err.Error(), "API_KEYS")
		assert.NotContains(t, err.Error(), "secretkey")
	}
}

// One key with two meanings would take the last silently; listed twice
// alike it is harmless.
func TestNewRejectsAKeyListedTwiceDifferently(t *testing.T) {
	_, err := auth.New(config.Auth{APIKeys: "secretkey=p1:write,secretkey=p2:read"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "API_KEYS")
	assert.NotContains(t, err.Error(), "secretkey")
	_, err = auth.New(config.Auth{APIKeys: "secretkey=p1:write,secretkey=p1:write"})
	assert.NoError(t, err)
}

func TestCheckAdmin(t *testing.T) {
	assert.NoError(t, auth.CheckAdmin(http.Header{}, ""), "no ADMIN_KEY: the platform protects the function")
	assert.NoError(t, auth.CheckAdmin(bearer("adm"), "adm"))
	assert.Equal(t, event.CodeUnauthorized, event.ErrorCode(auth.CheckAdmin(bearer("x"), "adm")))
	assert.Equal(t, event.CodeUnauthorized, event.ErrorCode(auth.CheckAdmin(http.Header{}, "adm")))
}

// TestAuthorizeSum: a key known by its SHA-256 sum is authorized as the key
// itself would be.
func TestAuthorizeSum(t *testing.T) {
	keys, err := auth.New(config.Auth{APIKeys: "wk_abc=shop:write,rk_def=shop:read"})
	require.NoError(t, err)
	p, err := keys.AuthorizeSum(sha256.Sum256([]byte("rk_def")), auth.RoleRead)
	require.NoError(t, err)
	assert.Equal(t, "shop", p.Project)
	_, err = keys.AuthorizeSum(sha256.Sum256([]byte("wk_abc")), auth.RoleRead)
	assert.Equal(t, event.CodeForbidden, event.ErrorCode(err))
	_, err = keys.AuthorizeSum(sha256.Sum256([]byte("rk_gone")), auth.RoleRead)
	assert.Equal(t, event.CodeUnauthorized, event.ErrorCode(err))

	off, err := auth.New(config.Auth{AuthDisabled: true})
	require.NoError(t, err)
	p, err = off.AuthorizeSum([32]byte{}, auth.RoleRead)
	require.NoError(t, err)
	assert.Equal(t, auth.DefaultProject, p.Project)
}
