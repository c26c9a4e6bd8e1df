package testenv_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/dlq"
	"github.com/eventfn/eventfn/shared/gateway"
	"github.com/eventfn/eventfn/shared/reset"
	"github.com/eventfn/eventfn/shared/rollupadmin"
	"github.com/eventfn/eventfn/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// toolConfigs are the configs of the operator tools and of the gateway,
// which no serve.Spec holds.
var toolConfigs = []any{new(gateway.Config), new(dlq.Config), new(rollupadmin.Config), new(reset.Config)}

// TestVariablesCoverEveryConfig checks the variables read from the
// sources against what envconfig itself reads for every function's config
// and every tool's: none is missing, so none survives ClearEnv.
func TestVariablesCoverEveryConfig(t *testing.T) {
	names, err := testenv.Variables()
	require.NoError(t, err)
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	cfgs := append([]any(nil), toolConfigs...)
	for _, s := range gateway.Functions {
		cfgs = append(cfgs, s.Config())
	}
	for _, cfg := range cfgs {
		var buf bytes.Buffer
		require.NoError(t, envconfig.Usagef("", cfg, &buf, "{{range .}}{{usage_key .}}\n{{end}}"))
		keys := strings.Fields(buf.String())
		require.NotEmpty(t, keys, "%T", cfg)
		for _, k := range keys {
			assert.True(t, have[k], "%s (of %s) is not in testenv.Variables", k, reflect.TypeOf(cfg).Elem())
		}
	}
	for _, k := range []string{"NATS_SUBJECT", "NATS_STREAM", "REDIS_PREFIX", "DATABASE_URL", "API_KEYS_FILE", "GATEWAY_ADDR", "MAX_DELIVER", "HOT_DAYS"} {
		assert.True(t, have[k], k)
	}
	for _, n := range names {
		assert.False(t, strings.HasPrefix(n, "EVENTFN_TEST_"), "%s names the tests' services: never cleared", n)
	}
}

// TestClearEnvUnsetsExportedSettings: what a caller's shell exports is
// gone after ClearEnv.
func TestClearEnvUnsetsExportedSettings(t *testing.T) {
	for k, v := range map[string]string{"NATS_SUBJECT": "newcomer.events", "REDIS_PREFIX": "x:", "DATABASE_URL": "postgres://nowhere/x"} {
		t.Setenv(k, v)
	}
	t.Setenv("EVENTFN_TEST_UNRELATED", "kept")
	require.NoError(t, testenv.ClearEnv())
	for _, k := range []string{"NATS_SUBJECT", "REDIS_PREFIX", "DATABASE_URL"} {
		_, set := os.LookupEnv(k)
		assert.False(t, set, k)
	}
	assert.Equal(t, "kept", os.Getenv("EVENTFN_TEST_UNRELATED"))
}

// TestEveryTestPackageClearsTheEnvironment: each test package of the
// module clears eventfn's variables before its tests run (testenv.Main, or
// testenv.ClearEnv in a TestMain of its own), so a new package cannot
// forget to and fail only for someone with NATS_SUBJECT exported.
func TestEveryTestPackageClearsTheEnvironment(t *testing.T) {
	root, err := testenv.ModuleRoot()
	require.NoError(t, err)
	packages := 0
	require.NoError(t, testenv.ModuleDirs(root, func(dir string) error {
		files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
		if err != nil || len(files) == 0 {
			return err
		}
		packages++
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), "testenv.Main(m)") || strings.Contains(string(b), "testenv.ClearEnv()") {
				return nil
			}
		}
		rel, _ := filepath.Rel(root, dir)
		t.Errorf("%s: no TestMain calls testenv.Main(m) or testenv.ClearEnv(); add main_test.go with\n\tfunc TestMain(m *testing.M) { testenv.Main(m) }", rel)
		return nil
	}))
	assert.Greater(t, packages, 5)
}
