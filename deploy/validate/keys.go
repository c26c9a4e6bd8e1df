package validate

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"knative.dev/pkg/kmap"
	"knative.dev/serving/pkg/apis/autoscaling"
	servingconfig "knative.dev/serving/pkg/apis/config"
)

// keyAllowlist holds the label and annotation keys a platform defines under
// one prefix. Platforms ignore a key they do not know, so a misspelt one
// (autoscaling.knative.dev/minscale) silently does nothing.
type keyAllowlist struct {
	prefix string
	owner  string // who defines the keys, for messages
	// known maps each key to "" or, for an old spelling the platform still
	// reads, to the key to use instead.
	known map[string]string
}

// check returns an error per key of m (labels or annotations, named by
// what) under the prefix that is not a known key.
func (a keyAllowlist) check(what string, m map[string]string) []error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !strings.HasPrefix(k, a.prefix) {
			continue
		}
		use, ok := a.known[k]
		switch {
		case ok && use == "":
		case ok:
			errs = append(errs, fmt.Errorf("%s %s is an old spelling; use %s", what, k, use))
		default:
			msg := fmt.Sprintf("%s %s is not a key %s defines under %s", what, k, a.owner, a.prefix)
			if s := a.nearest(k); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			errs = append(errs, fmt.Errorf("%s", msg))
		}
	}
	return errs
}

// nearest returns the known key closest to k, if it is close enough to be
// the one meant.
func (a keyAllowlist) nearest(k string) string {
	best, bestD := "", len(k)/3+1
	for _, c := range slices.Sorted(maps.Keys(a.known)) {
		if a.known[c] != "" {
			continue
		}
		if d := editDistance(strings.ToLower(k), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func fromKeyPriorities(kps ...kmap.KeyPriority) map[string]string {
	known := map[string]string{}
	for _, kp := range kps {
		known[kp[0]] = ""
		for _, alt := range kp[1:] {
			known[alt] = kp[0]
		}
	}
	return known
}

// knativeKeys are the annotation and label keys of Knative Serving under
// its autoscaling and features prefixes, from Serving's own constants.
var knativeKeys = []keyAllowlist{
	{
		prefix: autoscaling.GroupName + "/",
		owner:  "Knative Serving (knative.dev/serving/pkg/apis/autoscaling)",
		known: fromKeyPriorities(
			autoscaling.ClassAnnotation,
			autoscaling.MetricAnnotation,
			autoscaling.TargetAnnotation,
			autoscaling.TargetUtilizationPercentageAnnotation,
			autoscaling.TargetBurstCapacityAnnotation,
			autoscaling.MinScaleAnnotation,
			autoscaling.MaxScaleAnnotation,
			autoscaling.InitialScaleAnnotation,
			autoscaling.ActivationScale,
			autoscaling.ScaleDownDelayAnnotation,
			autoscaling.ScaleToZeroPodRetentionPeriodAnnotation,
			autoscaling.WindowAnnotation,
			autoscaling.PanicWindowPercentageAnnotation,
			autoscaling.PanicThresholdPercentageAnnotation,
			autoscaling.MetricAggregationAlgorithmAnnotation,
		),
	},
	{
		prefix: "features.knative.dev/",
		owner:  "Knative Serving (knative.dev/serving/pkg/apis/config)",
		known: map[string]string{
			servingconfig.QueueProxyPodInfoFeatureKey:   "",
			servingconfig.AllowHTTPFullDuplexFeatureKey: "",
		},
	},
}

// openfaasKeys are the com.openfaas.* labels and annotations OpenFaaS
// documents for functions: scaling (docs.openfaas.com/architecture/autoscaling),
// probes, service account and profiles (docs.openfaas.com/reference/workloads,
// /reference/profiles), async queues and retries (/reference/async,
// /openfaas-pro/retries).
var openfaasKeys = []keyAllowlist{{
	prefix: "com.openfaas.",
	owner:  "OpenFaaS",
	known: map[string]string{
		"com.openfaas.scale.min":                       "",
		"com.openfaas.scale.max":                       "",
		"com.openfaas.scale.factor":                    "",
		"com.openfaas.scale.zero":                      "",
		"com.openfaas.scale.zero-duration":             "",
		"com.openfaas.scale.target":                    "",
		"com.openfaas.scale.target-proportion":         "",
		"com.openfaas.scale.type":                      "",
		"com.openfaas.health.http.path":                "",
		"com.openfaas.health.http.initialDelaySeconds": "",
		"com.openfaas.health.http.periodSeconds":       "",
		"com.openfaas.health.http.timeoutSeconds":      "",
		"com.openfaas.health.http.failureThreshold":    "",
		"com.openfaas.ready.http.path":                 "",
		"com.openfaas.ready.http.initialDelaySeconds":  "",
		"com.openfaas.ready.http.periodSeconds":        "",
		"com.openfaas.ready.http.timeoutSeconds":       "",
		"com.openfaas.ready.http.successThreshold":     "",
		"com.openfaas.ready.http.failureThreshold":     "",
		"com.openfaas.serviceaccount":                  "",
		"com.openfaas.profile":                         "",
		"com.openfaas.queue":                           "",
		"com.openfaas.retry.attempts":                  "",
		"com.openfaas.retry.codes":                     "",
		"com.openfaas.retry.min_wait":                  "",
		"com.openfaas.retry.max_wait":                  "",
		"com.openfaas.health.http.initialDelay":        "com.openfaas.health.http.initialDelaySeconds",
		"com.openfaas.ready.http.initialDelay":         "com.openfaas.ready.http.initialDelaySeconds",
	},
}}

// checkKeys runs every allowlist on m.
func checkKeys(lists []keyAllowlist, what string, m map[string]string) []error {
	var errs []error
	for _, a := range lists {
		errs = append(errs, a.check(what, m)...)
	}
	return errs
}
