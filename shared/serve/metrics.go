package serve

import "github.com/prometheus/client_golang/prometheus"

// metrics are what every function reports beside its own: requests to its
// work path and their durations, by status code, and its readiness.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	ready    *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfn_http_requests_total", Help: "HTTP requests to the function's work path, by status code.",
		}, []string{"function", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventfn_http_request_duration_seconds", Help: "Time to answer a request to the function's work path, by status code.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"function", "code"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventfn_ready", Help: "1 when the last readiness check (a /readyz request, or the periodic one) found the function's dependencies reachable, else 0; 0 from the start of a shutdown.",
		}, []string{"function"}),
	}
	reg.MustRegister(m.requests, m.duration, m.ready)
	return m
}
