package ingest

import "github.com/prometheus/client_golang/prometheus"

// metrics are the ingest function's own counters.
type metrics struct {
	events  *prometheus.CounterVec
	publish prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfn_ingest_events_total",
			Help: "Events by outcome: accepted, duplicate, rejected, or failed (the request got a 429, 413 or 503).",
		}, []string{"outcome"}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eventfn_ingest_publish_seconds",
			Help:    "Time from publishing a request's events to the last stream acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	reg.MustRegister(m.events, m.publish)
	return m
}
