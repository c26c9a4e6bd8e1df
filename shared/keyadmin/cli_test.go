package keyadmin_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/auth"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/keyadmin"
	"github.com/eventfn/eventfn/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestNewPrintsAKeyAndTheEntryThatMakesItWork: the printed entry, added to
// the keys, lets the printed key do what its role says and nothing else.
func TestNewPrintsAKeyAndTheEntryThatMakesItWork(t *testing.T) {
	seen := map[string]bool{}
	for _, role := range []auth.Role{auth.RoleWrite, auth.RoleRead, auth.RoleWrite} {
		var out, errOut bytes.Buffer
		require.Equal(t, 0, keyadmin.Main([]string{"new", "shop", string(role)}, &out, &errOut), errOut.String())
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		require.Len(t, lines, 2, out.String())
		key, entry := lines[0], lines[1]
		assert.Equal(t, key+"=shop:"+string(role), entry)
		assert.False(t, seen[key], "a new key each time")
		seen[key] = true
		assert.GreaterOrEqual(t, len(key), 40, "256 random bits")
		assert.Equal(t, map[auth.Role]string{auth.RoleWrite: "wk_", auth.RoleRead: "rk_"}[role], key[:3])

		keys, err := auth.New(config.Auth{APIKeys: entry})
		require.NoError(t, err, "the printed entry is valid")
		h := http.Header{"Authorization": {"Bearer " + key}}
		p, err := keys.Authorize(h, role)
		require.NoError(t, err)
		assert.Equal(t, "shop", p.Project)
		other := map[auth.Role]auth.Role{auth.RoleWrite: auth.RoleRead, auth.RoleRead: auth.RoleWrite}[role]
		_, err = keys.Authorize(h, other)
		assert.Error(t, err)
		assert.Contains(t, errOut.String(), "API_KEYS_FILE")
	}
}

func TestNewRefusesWhatTheKeysWouldRefuse(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"new"},
		{"new", "shop"},
		{"make", "shop", "write"},
		{"new", "shop", "admin"},
		{"new", "sh op", "read"},
		{"new", "shop", "read", "extra"},
	} {
		var out, errOut bytes.Buffer
		assert.Equal(t, 2, keyadmin.Main(args, &out, &errOut), "%q", args)
		assert.Empty(t, out.String(), "%q: no key printed", args)
		assert.Contains(t, errOut.String(), "usage: scripts/keys new PROJECT read|write", "%q", args)
	}
}
