package validate

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKnativeIsValid(t *testing.T) {
	t.Parallel()
	r := repo(t)
	m, err := CheckKnative(r, r.Path("knative"))
	require.NoError(t, err)

	want, err := r.Functions()
	require.NoError(t, err)
	assert.NoError(t, SameFunctions("knative/", want, slices.Sorted(maps.Keys(m.Services))))

	// Autoscaling suited to each function (the issue).
	ann := func(name, key string) string {
		return m.Services[name].Spec.Template.Annotations["autoscaling.knative.dev/"+key]
	}
	assert.Equal(t, "concurrency", ann("ingest", "metric"), "ingest scales on concurrency")
	assert.NotEqual(t, "0", ann("ingest", "min-scale"), "ingest is never cold")
	for _, name := range []string{"stats-dau", "stats-top", "stats-retention", "dashboard"} {
		assert.Equal(t, "0", ann(name, "min-scale"), "%s scales to zero", name)
	}
	assert.Equal(t, "1", ann("consume-batch", "min-scale"), "consume-batch is kept warm")
	assert.Contains(t, envValues(m, "consume-batch"), "CONSUME_CONTINUOUS=true", "a warm consume-batch drains in process")

	// Internal functions are not exposed outside the cluster.
	for _, name := range []string{"consume-batch", "archive"} {
		assert.Equal(t, "cluster-local", m.Services[name].Labels["networking.knative.dev/visibility"], name)
	}

	// A schedule for archive, a push path to consume-batch.
	var pinged []string
	for _, p := range m.PingSources {
		pinged = append(pinged, p.Spec.Sink.Ref.Name)
	}
	assert.Equal(t, []string{"archive"}, pinged)
	var pushed []string
	for _, tr := range m.Triggers {
		pushed = append(pushed, tr.Spec.Subscriber.Ref.Name)
	}
	assert.Equal(t, []string{"consume-batch"}, pushed)

	// The secret the docs tell users to create holds exactly these keys.
	assert.Equal(t, map[string][]string{"eventfn": {"api-keys", "database-url", "s3-access-key-id", "s3-secret-access-key"}}, m.SecretKeys)
}

func envValues(m *Manifests, service string) []string {
	var out []string
	for _, e := range m.Services[service].Spec.Template.Spec.Containers[0].Env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}

// TestKnativeCatchesMistakes feeds CheckKnative copies of knative/ with one
// seeded mistake each; Knative's own validation, or the cross-checks, must
// report it.
func TestKnativeCatchesMistakes(t *testing.T) {
	t.Parallel()
	r := repo(t)
	cases := []struct {
		name, file, old, new string
		wantErr              string
	}{
		{"bad autoscaling annotation value", "ingest.yaml", `autoscaling.knative.dev/min-scale: "2"`, `autoscaling.knative.dev/min-scale: "-2"`, "autoscaling.knative.dev/min-scale"},
		{"min-scale above max-scale", "ingest.yaml", `autoscaling.knative.dev/max-scale: "20"`, `autoscaling.knative.dev/max-scale: "1"`, "max-scale=1 is less than min-scale=2"},
		{"unknown autoscaling metric", "stats-top.yaml", "autoscaling.knative.dev/metric: concurrency", "autoscaling.knative.dev/metric: latency", "autoscaling.knative.dev/metric"},
		{"unknown field", "consume-batch.yaml", "      containerConcurrency: 0", "      containerConcurency: 0", `unknown field "containerConcurency"`},
		{"field Knative does not allow", "archive.yaml", "      containerConcurrency: 1", "      containerConcurrency: 1\n      hostNetwork: true", "hostNetwork"},
		{"timeout above the maximum", "archive.yaml", "timeoutSeconds: 600", "timeoutSeconds: 6000", "timeoutSeconds"},
		{"bad cron schedule", "archive.yaml", `schedule: "17 * * * *"`, `schedule: "17 * * *"`, "spec.schedule"},
		{"bad time zone", "archive.yaml", "timezone: Etc/UTC", "timezone: Mars/Olympus", "spec.timezone"},
		{"trigger without broker", "broker.yaml", "  broker: eventfn\n", "", "missing field(s): spec.broker"},
		{"trigger on a broker that does not exist", "broker.yaml", "  broker: eventfn\n", "  broker: events\n", `broker "events" is not here`},
		{"sink to a missing service", "archive.yaml", "      kind: Service\n      name: archive", "      kind: Service\n      name: archiver", `refers to serving.knative.dev/v1 Service "archiver"`},
		{"configmap that is not here", "stats-dau.yaml", "                name: eventfn\n          env:", "                name: eventfn-settings\n          env:", `envFrom ConfigMap "eventfn-settings" is not here`},
		{"variable no function reads", "00-config.yaml", "  NATS_SUBJECT: eventfn.events", "  NATS_SUBJECTS: eventfn.events", "Service ingest: environment variable NATS_SUBJECTS (from ConfigMap eventfn-nats) is not read by ingest"},
		{"value the function refuses, in a ConfigMap", "00-config.yaml", `  HOT_DAYS: "30"`, `  HOT_DAYS: "thirty"`, "Service archive: archive would not start with this environment: config: envconfig.Process: assigning HOT_DAYS"},
		{"value the function refuses, in env", "ingest.yaml", "              value: 24h", "              value: 24hours", "Service ingest: ingest would not start with this environment: config: envconfig.Process: assigning DEDUP_WINDOW"},
		// Refused today for any s3 URL; with S3 support, for the missing bucket.
		{"s3 URL without a bucket", "00-config.yaml", "  ARCHIVE_URL: s3://eventfn-archive/events", "  ARCHIVE_URL: s3:///events", "Service archive: archive would not start with this environment: config: ARCHIVE_URL"},
		{"variable another function reads", "stats-top.yaml", "            - name: DATABASE_MAX_CONNS\n", "            - name: HOT_DAYS\n              value: \"30\"\n            - name: DATABASE_MAX_CONNS\n", "Service stats-top: environment variable HOT_DAYS (from env) is not read by stats-top"},
		{"a service's ConfigMap on a function that does not use it", "stats-dau.yaml", "                name: eventfn\n", "                name: eventfn\n            - configMapRef:\n                name: eventfn-nats\n", "Service stats-dau: environment variable NATS_URL (from ConfigMap eventfn-nats) is not read by stats-dau"},
		{"misspelt autoscaling annotation", "stats-top.yaml", `autoscaling.knative.dev/min-scale: "0"`, `autoscaling.knative.dev/minscale: "0"`, "Service stats-top template: annotation autoscaling.knative.dev/minscale is not a key Knative Serving (knative.dev/serving/pkg/apis/autoscaling) defines under autoscaling.knative.dev/ (did you mean autoscaling.knative.dev/min-scale?)"},
		{"old spelling of an autoscaling annotation", "ingest.yaml", `autoscaling.knative.dev/max-scale: "20"`, `autoscaling.knative.dev/maxScale: "20"`, "annotation autoscaling.knative.dev/maxScale is an old spelling; use autoscaling.knative.dev/max-scale"},
		{"misspelt feature annotation", "ingest.yaml", "        autoscaling.knative.dev/class:", "        features.knative.dev/http-full-duplx: Enabled\n        autoscaling.knative.dev/class:", "annotation features.knative.dev/http-full-duplx is not a key Knative Serving (knative.dev/serving/pkg/apis/config) defines under features.knative.dev/ (did you mean features.knative.dev/http-full-duplex?)"},
		{"env from a ConfigMap key that is not there", "archive.yaml", "            - name: DATABASE_MAX_CONNS\n              value: \"2\"\n", "            - name: DATABASE_MAX_CONNS\n              valueFrom:\n                configMapKeyRef:\n                  name: eventfn\n                  key: max-conns\n", `env DATABASE_MAX_CONNS refers to key "max-conns" of ConfigMap "eventfn"`},
		{"image of another function", "stats-retention.yaml", "image: ghcr.io/eventfn/stats-retention:latest", "image: ghcr.io/eventfn/stats-top:latest", "not named after the function"},
		{"broker without class", "broker.yaml", "    eventing.knative.dev/broker.class: MTChannelBasedBroker\n", "    eventing.knative.dev/broker.class: \"\"\n", "eventing.knative.dev/broker.class"},
		{"no channel template", "broker.yaml", "    kind: NatsJetStreamChannel\n", "", "no valid channel-template-spec"},
		{"kind that does not belong", "00-config.yaml", "kind: ConfigMap", "kind: Secret", `"v1 Secret" is not a kind`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := CheckKnative(r, brokenDir(t, r.Path("knative"), tc.file, tc.old, tc.new))
			require.Error(t, err)
			t.Log(err)
			assert.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// TestKnativeMissingFunction: a function of functions/ without a Service.
func TestKnativeMissingFunction(t *testing.T) {
	t.Parallel()
	r := repo(t)
	want, err := r.Functions()
	require.NoError(t, err)
	dir := brokenDir(t, r.Path("knative"), "stats-dau.yaml", "kind: Service", "kind: Service\n# removed")
	require.NoError(t, removeFile(dir, "stats-dau.yaml"))
	m, err := CheckKnative(r, dir)
	require.NoError(t, err, "the rest is still valid")
	assert.ErrorContains(t, SameFunctions("knative/", want, slices.Sorted(maps.Keys(m.Services))), "missing [stats-dau]")
}
