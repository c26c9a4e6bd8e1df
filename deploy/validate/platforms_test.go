package validate

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/openfaas/go-sdk/stack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPlatformsAgree checks the three deployments against each other: the
// same functions (those of functions/, also routed by the compose
// gateway), the same image per function, the same cluster settings on
// OpenFaaS and Knative, and secrets the docs tell users to create.
func TestPlatformsAgree(t *testing.T) {
	t.Parallel()
	r := repo(t)
	want, err := r.Functions()
	require.NoError(t, err)
	services, err := CheckStack(r, r.Path("stack.yml"))
	require.NoError(t, err)
	m, err := CheckKnative(r, r.Path("knative"))
	require.NoError(t, err)
	p, err := CheckCompose(r, r.Path("docker-compose.yml"))
	require.NoError(t, err)
	routed, err := GatewayFunctions(r.Path("deploy/gateway/nginx.conf"))
	require.NoError(t, err)

	assert.NoError(t, SameFunctions("stack.yml", want, slices.Sorted(maps.Keys(services.Functions))))
	assert.NoError(t, SameFunctions("knative/", want, slices.Sorted(maps.Keys(m.Services))))
	assert.NoError(t, SameFunctions("docker-compose.yml", want, ComposeFunctions(p)))
	assert.NoError(t, SameFunctions("deploy/gateway/nginx.conf", want, routed))

	for _, name := range want {
		img := services.Functions[name].Image
		if ks := m.Services[name]; ks != nil {
			assert.Equal(t, img, ks.Spec.Template.Spec.Containers[0].Image, "%s: Knative image", name)
		}
		if cs, ok := p.Services[name]; ok {
			assert.Equal(t, img, cs.Image, "%s: compose image", name)
		}
	}

	// OpenFaaS and Knative run in a cluster: one set of shared settings.
	// deploy/openfaas/env.yml is ConfigMap eventfn, deploy/openfaas/X.yml is
	// ConfigMap eventfn-X, and each function reads the same ones on both.
	files, err := filepath.Glob(r.Path("deploy/openfaas/*.yml"))
	require.NoError(t, err)
	configMapOf := func(file string) string {
		base := strings.TrimSuffix(filepath.Base(file), ".yml")
		if base == "env" {
			return "eventfn"
		}
		return "eventfn-" + base
	}
	var fromFiles []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var env stack.EnvironmentFile
		require.NoError(t, decodeStrict(data, &env))
		cm := m.ConfigMaps[configMapOf(f)]
		if assert.NotNil(t, cm, "%s has no ConfigMap %s in knative/00-config.yaml", f, configMapOf(f)) {
			assert.Equal(t, env.Environment, cm.Data, "%s and ConfigMap %s hold the same settings", f, cm.Name)
		}
		fromFiles = append(fromFiles, configMapOf(f))
	}
	for name := range m.ConfigMaps {
		if name == "eventfn-broker-channel" { // the Broker's, not the functions'
			continue
		}
		assert.Contains(t, fromFiles, name, "ConfigMap %s has no deploy/openfaas file", name)
	}
	for _, name := range want {
		var faas, kn []string
		for _, f := range services.Functions[name].EnvironmentFile {
			faas = append(faas, configMapOf(f))
		}
		for _, from := range m.Services[name].Spec.Template.Spec.Containers[0].EnvFrom {
			if from.ConfigMapRef != nil {
				kn = append(kn, from.ConfigMapRef.Name)
			}
		}
		slices.Sort(faas)
		slices.Sort(kn)
		assert.Equal(t, faas, kn, "%s: environment_file of stack.yml and envFrom of knative/", name)
	}

	docs, err := os.ReadFile(r.Path("docs/deploy.md"))
	require.NoError(t, err)
	var secrets []string
	for _, f := range services.Functions {
		secrets = append(secrets, f.Secrets...)
	}
	slices.Sort(secrets)
	for _, s := range slices.Compact(secrets) {
		assert.True(t, strings.Contains(string(docs), "faas-cli secret create "+s+" "), "docs/deploy.md creates OpenFaaS secret %s", s)
	}
	for name, keys := range m.SecretKeys {
		assert.True(t, strings.Contains(string(docs), "create secret generic "+name+" "), "docs/deploy.md creates Secret %s", name)
		for _, k := range keys {
			assert.True(t, regexp.MustCompile(`--from-(literal|file)=`+k+`=`).MatchString(string(docs)), "docs/deploy.md sets key %s of Secret %s", k, name)
		}
	}
}
