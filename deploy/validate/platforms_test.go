package validate

import (
	"maps"
	"os"
	"slices"
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
	data, err := os.ReadFile(r.Path("deploy/openfaas/env.yml"))
	require.NoError(t, err)
	var env stack.EnvironmentFile
	require.NoError(t, decodeStrict(data, &env))
	assert.Equal(t, env.Environment, m.ConfigMaps["eventfn"].Data,
		"deploy/openfaas/env.yml and knative/00-config.yaml hold the same settings")

	docs, err := os.ReadFile(r.Path("docs/deploy.md"))
	require.NoError(t, err)
	var secrets []string
	for _, f := range services.Functions {
		secrets = append(secrets, f.Secrets...)
	}
	slices.Sort(secrets)
	for _, s := range slices.Compact(secrets) {
		assert.Contains(t, string(docs), "faas-cli secret create "+s+" ", "docs/deploy.md creates OpenFaaS secret %s", s)
	}
	for name, keys := range m.SecretKeys {
		assert.Contains(t, string(docs), "create secret generic "+name+" ", "docs/deploy.md creates Secret %s", name)
		for _, k := range keys {
			assert.Regexp(t, `--from-(literal|file)=`+k+`=`, string(docs), "docs/deploy.md sets key %s of Secret %s", k, name)
		}
	}
}
