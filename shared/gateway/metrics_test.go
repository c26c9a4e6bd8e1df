package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/gateway"
	"github.com/eventfn/eventfn/shared/serve"
)

// recorder is a Registerer that keeps what is registered on it.
type recorder struct {
	*prometheus.Registry
	collectors []prometheus.Collector
}

func (r *recorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registry.Register(c)
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
	r.Registry.MustRegister(cs...)
}

// child makes one child of c when it is a metric vector, whatever its
// number of labels, and reports whether c is one.
func child(c prometheus.Collector) (isVec, made bool) {
	var try func(n int) error
	switch v := c.(type) {
	case *prometheus.CounterVec:
		try = func(n int) error { _, err := v.GetMetricWithLabelValues(make([]string, n)...); return err }
	case *prometheus.GaugeVec:
		try = func(n int) error { _, err := v.GetMetricWithLabelValues(make([]string, n)...); return err }
	case *prometheus.HistogramVec:
		try = func(n int) error { _, err := v.GetMetricWithLabelValues(make([]string, n)...); return err }
	case *prometheus.SummaryVec:
		try = func(n int) error { _, err := v.GetMetricWithLabelValues(make([]string, n)...); return err }
	default:
		return false, false
	}
	for n := 0; n <= 10; n++ {
		if try(n) == nil {
			return true, true
		}
	}
	return true, false
}

// functionMetrics builds every function of gateway.Functions as its main
// does, on a fresh registry each, with the server's own metrics, and
// returns each function's metric families. A labelled metric shows in a
// scrape only once it has a child, so each vector gets one first: the
// families then hold every metric the function can report.
func functionMetrics(t *testing.T) map[string][]*dto.MetricFamily {
	t.Helper()
	setFunctionEnv(t)
	out := map[string][]*dto.MetricFamily{}
	log := slog.New(slog.DiscardHandler)
	for _, spec := range gateway.Functions {
		rec := &recorder{Registry: prometheus.NewRegistry()}
		fn, _, err := spec.Build(context.Background(), func(config.Server) (serve.Deps, error) {
			return serve.Deps{Logger: log, Registerer: rec}, nil
		})
		require.NoError(t, err, spec.Name())
		if fn.Close != nil {
			t.Cleanup(fn.Close)
		}
		serve.NewServer(fn, log, rec, rec.Registry)
		for _, c := range rec.collectors {
			if isVec, made := child(c); isVec {
				require.True(t, made, "%s: a child of %T", spec.Name(), c)
			}
		}
		mfs, err := rec.Gather()
		require.NoError(t, err, spec.Name())
		out[spec.Name()] = mfs
	}
	return out
}

// TestMetricsPassLint: every function's metrics pass client_golang's lint
// (names, units, counters ending in _total, help texts) and carry the
// eventfn_ prefix.
func TestMetricsPassLint(t *testing.T) {
	for name, mfs := range functionMetrics(t) {
		require.NotEmpty(t, mfs, name)
		problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
		require.NoError(t, err, name)
		assert.Empty(t, problems, "%s: lint problems", name)
		for _, mf := range mfs {
			assert.True(t, strings.HasPrefix(mf.GetName(), "eventfn_"), "%s: metric %s lacks the eventfn_ prefix", name, mf.GetName())
		}
		assert.Contains(t, familyNames(mfs), "eventfn_ready", name)
		assert.Contains(t, familyNames(mfs), "eventfn_http_requests_total", name)
	}

	// The lint sees a mistake seeded into a registry: a counter without
	// _total, a duration in milliseconds.
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		prometheus.NewCounter(prometheus.CounterOpts{Name: "eventfn_seeded_events", Help: "x"}),
		prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventfn_seeded_wait_milliseconds", Help: "x"}),
	)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	require.NoError(t, err)
	assert.Len(t, problems, 2, "%v", problems)
}

func familyNames(mfs []*dto.MetricFamily) []string {
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return names
}

// metricRef is a metric name as PromQL, the dashboard and the alerts spell it.
var metricRef = regexp.MustCompile(`eventfn_[a-z0-9_]*[a-z0-9]`)

// unknownMetrics lists the eventfn metric names text uses that are not in
// known (name to type), sorted: a histogram's or summary's series
// (_bucket, _sum, _count) count as its own.
func unknownMetrics(text string, known map[string]dto.MetricType) []string {
	seen := map[string]bool{}
	for _, ref := range metricRef.FindAllString(text, -1) {
		if _, ok := known[ref]; ok {
			continue
		}
		ok := false
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base, cut := strings.CutSuffix(ref, suffix)
			typ, found := known[base]
			if cut && found && (typ == dto.MetricType_HISTOGRAM || typ == dto.MetricType_SUMMARY) {
				ok = true
			}
		}
		if !ok {
			seen[ref] = true
		}
	}
	var out []string
	for ref := range seen {
		out = append(out, ref)
	}
	sort.Strings(out)
	return out
}

// TestDashboardAndAlertsNameOnlyRegisteredMetrics: every eventfn metric the
// Grafana dashboard and the alert rules (and their unit tests) name is one
// a function registers, so a typo or a renamed metric cannot leave a panel
// empty or an alert silent.
func TestDashboardAndAlertsNameOnlyRegisteredMetrics(t *testing.T) {
	known := map[string]dto.MetricType{}
	for _, mfs := range functionMetrics(t) {
		for _, mf := range mfs {
			known[mf.GetName()] = mf.GetType()
		}
	}

	files, err := filepath.Glob("../../deploy/grafana/*.json")
	require.NoError(t, err)
	rules, err := filepath.Glob("../../deploy/prometheus/*.yml")
	require.NoError(t, err)
	require.NotEmpty(t, files, "a dashboard")
	require.Len(t, rules, 2, "the rules and their tests")
	for _, f := range append(files, rules...) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.NotEmpty(t, metricRef.FindAllString(string(b), -1), f)
		assert.Empty(t, unknownMetrics(string(b), known), "%s names metrics no function registers", f)
	}

	// The check catches a typo seeded into the dashboard.
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	typo := strings.Replace(string(b), "eventfn_ingest_events_total", "eventfn_ingest_event_total", 1)
	require.NotEqual(t, string(b), typo)
	assert.Equal(t, []string{"eventfn_ingest_event_total"}, unknownMetrics(typo, known))
	assert.Equal(t, []string{"eventfn_http_requests_total_bucket"}, unknownMetrics("eventfn_http_requests_total_bucket", known), "only histograms have buckets")
}

// TestDashboardIsWellFormed: the dashboard's panels all read the data
// source its variable chooses, each with a query, under unique ids.
func TestDashboardIsWellFormed(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana/eventfn.json")
	require.NoError(t, err)
	var dash struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct{ Name, Type, Query any } `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				Type, UID string
			} `json:"datasource"`
			Targets []struct {
				Expr       string               `json:"expr"`
				Datasource struct{ UID string } `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	require.NotEmpty(t, dash.UID)
	hasVar := false
	for _, v := range dash.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasVar = true
		}
	}
	assert.True(t, hasVar, "a datasource variable of type prometheus")
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		assert.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		assert.Equal(t, "${datasource}", p.Datasource.UID, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		for _, q := range p.Targets {
			assert.NotEmpty(t, q.Expr, p.Title)
			assert.Equal(t, "${datasource}", q.Datasource.UID, p.Title)
			assert.Equal(t, strings.Count(q.Expr, "("), strings.Count(q.Expr, ")"), fmt.Sprintf("%s: %s", p.Title, q.Expr))
		}
	}
}
