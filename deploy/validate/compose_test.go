package validate

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestComposeIsValid(t *testing.T) {
	t.Parallel()
	r := repo(t)
	p, err := CheckCompose(r, r.Path("docker-compose.yml"))
	require.NoError(t, err)

	want, err := r.Functions()
	require.NoError(t, err)
	assert.NoError(t, SameFunctions("docker-compose.yml", want, ComposeFunctions(p)))

	// The infrastructure the issue asks for, under the names scripts/services
	// starts with `docker compose up -d postgres redis nats`.
	for _, name := range []string{"postgres", "redis", "nats", "gateway"} {
		require.Contains(t, p.Services, name)
	}
	assert.Contains(t, p.Services["postgres"].Image, "timescale/timescaledb:")
	assert.Subset(t, []string(p.Services["nats"].Command), []string{"-js", "-sd"}, "NATS with JetStream on disk")
	published := map[string]string{}
	for name, s := range p.Services {
		for _, port := range s.Ports {
			published[name] = port.HostIP + ":" + port.Published
		}
	}
	assert.Equal(t, map[string]string{
		"postgres": "127.0.0.1:5432", "redis": "127.0.0.1:6379", "nats": "127.0.0.1:4222",
		"gateway": "127.0.0.1:8080",
	}, published, "make run's ports, on the loopback only; functions only through the gateway")

	// Every function service waits for what it uses to be healthy (or, for
	// a one-shot job, to have completed).
	for _, name := range want {
		for dep, d := range p.Services[name].DependsOn {
			if dep == "minio-init" {
				assert.Equal(t, "service_completed_successfully", d.Condition, "%s depends on %s", name, dep)
				continue
			}
			assert.Equal(t, "service_healthy", d.Condition, "%s depends on %s", name, dep)
		}
		assert.NotEmpty(t, p.Services[name].DependsOn, name)
	}
	// archive writes to the compose MinIO, which the one-shot job gave a bucket.
	env := func(svc, k string) string {
		v := p.Services[svc].Environment[k]
		require.NotNil(t, v, "%s %s", svc, k)
		return *v
	}
	assert.Equal(t, "http://minio:9000", env("archive", "ARCHIVE_S3_ENDPOINT"))
	assert.Equal(t, "s3://eventfn-archive/events", env("archive", "ARCHIVE_URL"))
	assert.Contains(t, p.Services["minio-init"].Command, "local/eventfn-archive")
	assert.Contains(t, p.Services["archive"].DependsOn, "minio-init")
	assert.Equal(t, env("minio", "MINIO_ROOT_USER"), env("archive", "AWS_ACCESS_KEY_ID"))
	assert.Equal(t, env("minio", "MINIO_ROOT_PASSWORD"), env("archive", "AWS_SECRET_ACCESS_KEY"))
	assert.Regexp(t, `^minio/minio:RELEASE\.\d{4}-`, p.Services["minio"].Image, "MinIO pinned to a release")
	assert.Regexp(t, `^minio/mc:RELEASE\.\d{4}-`, p.Services["minio-init"].Image, "mc pinned to a release")
	// The README's local keys work as pasted against compose too.
	keys := p.Services["ingest"].Environment["API_KEYS"]
	require.NotNil(t, keys)
	assert.Equal(t, "wk_local_dev=demo:write,rk_local_dev=demo:read", *keys)
	cont := p.Services["consume-batch"].Environment["CONSUME_CONTINUOUS"]
	require.NotNil(t, cont)
	assert.Equal(t, "true", *cont)
}

// TestComposeCatchesMistakes feeds CheckCompose broken copies of
// docker-compose.yml.
func TestComposeCatchesMistakes(t *testing.T) {
	t.Parallel()
	r := repo(t)
	cases := []struct {
		name, old, new, wantErr string
	}{
		{"depends_on a service that does not exist", "      redis:\n        condition: service_healthy", "      rediss:\n        condition: service_healthy", "depends on undefined service"},
		{"unknown key", "    restart: unless-stopped\n    environment:\n      POSTGRES_DB", "    restrat: unless-stopped\n    environment:\n      POSTGRES_DB", "restrat"},
		{"bad healthcheck interval", "      interval: 5s\n      timeout: 3s\n      retries: 20\n\n  redis:", "      interval: often\n      timeout: 3s\n      retries: 20\n\n  redis:", "often"},
		{"undefined volume", "      - natsdata:/data", "      - natadata:/data", "natadata"},
		{"build argument names another function", "        FUNCTION: stats-top", "        FUNCTION: stats-dau", `service stats-top builds function "stats-dau"`},
		{"variable no function reads", "      DEDUP_WINDOW: ${DEDUP_WINDOW:-24h}", "      DEDUP_WINDW: ${DEDUP_WINDOW:-24h}", "service ingest: environment variable DEDUP_WINDW (from environment) is not read by ingest"},
		{"variable another function reads", "      <<: [*env, *keys-env, *database-env]\n    depends_on: &stats-depends", "      <<: [*env, *keys-env, *database-env]\n      HOT_DAYS: ${HOT_DAYS:-30}\n    depends_on: &stats-depends", "service stats-top: environment variable HOT_DAYS (from environment) is not read by stats-top"},
		{"default the function refuses", "${DEDUP_WINDOW:-24h}", "${DEDUP_WINDOW:-24hours}", "service ingest: ingest would not start with this environment: config: envconfig.Process: assigning DEDUP_WINDOW"},
		{"NATS settings on a function without NATS", "      <<: [*env, *keys-env, *database-env]\n    depends_on: &stats-depends", "      <<: [*env, *keys-env, *database-env, *nats-env]\n    depends_on: &stats-depends", "service stats-dau: environment variable NATS_URL (from environment) is not read by stats-dau"},
		// Refused today for any s3 URL; with S3 support, for the missing bucket.
		{"s3 URL without a bucket", "ARCHIVE_URL: s3://eventfn-archive/events", "ARCHIVE_URL: s3:///events", "service archive: archive would not start with this environment: config: ARCHIVE_URL"},
		{"one-shot job nothing waits for, without healthcheck", "      minio-init:\n        condition: service_completed_successfully\n", "", "service minio-init has no healthcheck"},
		{"service without healthcheck", "    healthcheck:\n      test: [\"CMD\", \"redis-cli\", \"ping\"]\n      interval: 5s\n      timeout: 3s\n      retries: 20\n", "", "service redis has no healthcheck"},
		{"bind mount of a missing file", "./deploy/gateway/nginx.conf:", "./deploy/gateway/nginx.cnf:", "deploy/gateway/nginx.cnf, which does not exist"},
		{"image of another function", "/archive:${TAG:-latest}", "/stats-dau:${TAG:-latest}", `service archive: image "ghcr.io/eventfn/stats-dau:latest" is not named after the function`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := CheckCompose(r, brokenCopy(t, r.Path("docker-compose.yml"), tc.old, tc.new))
			require.Error(t, err)
			t.Log(err)
			assert.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// TestComposeMissingFunction: a function of functions/ without a service.
func TestComposeMissingFunction(t *testing.T) {
	t.Parallel()
	r := repo(t)
	want, err := r.Functions()
	require.NoError(t, err)
	broken := brokenCopy(t, r.Path("docker-compose.yml"), "      args:\n        FUNCTION: stats-retention\n", "")
	p, err := CheckCompose(r, broken)
	require.NoError(t, err, "stats-retention now builds nothing in particular, which is valid compose")
	assert.ErrorContains(t, SameFunctions("docker-compose.yml", want, ComposeFunctions(p)), "missing [stats-retention]")
}

// TestGatewayRoutesEveryFunction: the compose gateway routes exactly the
// functions of functions/, and a route left out is caught.
func TestGatewayRoutesEveryFunction(t *testing.T) {
	t.Parallel()
	r := repo(t)
	want, err := r.Functions()
	require.NoError(t, err)
	got, err := GatewayFunctions(r.Path("deploy/gateway/nginx.conf"))
	require.NoError(t, err)
	assert.NoError(t, SameFunctions("deploy/gateway/nginx.conf", want, got))

	broken := brokenCopy(t, r.Path("deploy/gateway/nginx.conf"), "|stats-top|", "|")
	got, err = GatewayFunctions(broken)
	require.NoError(t, err)
	assert.ErrorContains(t, SameFunctions("deploy/gateway/nginx.conf", want, got), "missing [stats-top]")
	assert.False(t, slices.Contains(got, "stats-top"))
}
