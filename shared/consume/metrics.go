package consume

import "github.com/prometheus/client_golang/prometheus"

// metrics are consume-batch's own counters.
type metrics struct {
	messages *prometheus.CounterVec
	pushed   *prometheus.CounterVec
	failures *prometheus.CounterVec
	batch    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfn_consume_messages_total",
			Help: "Messages handled, by outcome: inserted, duplicate, dead_lettered, or retried (left for redelivery).",
		}, []string{"outcome"}),
		pushed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfn_consume_pushed_events_total",
			Help: "Events of push requests, by outcome: inserted, duplicate, rejected.",
		}, []string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfn_consume_failures_total",
			Help: "Failed steps, by stage: fetch, store, ack, dead_letter.",
		}, []string{"stage"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eventfn_consume_batch_seconds",
			Help:    "Time to store and acknowledge one fetched batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	reg.MustRegister(m.messages, m.pushed, m.failures, m.batch)
	return m
}
