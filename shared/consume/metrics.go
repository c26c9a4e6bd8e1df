package consume

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfn/eventfn/shared/rollup"
)

// metrics are consume-batch's own.
type metrics struct {
	messages *prometheus.CounterVec
	pushed   *prometheus.CounterVec
	failures *prometheus.CounterVec
	batch    prometheus.Histogram
	// batchEvents and commit describe each batch's transaction.
	batchEvents prometheus.Histogram
	commit      prometheus.Histogram
	// What an operator watches grow: refreshed by the background loop.
	pending, ackPending, deadLetters, rollupBacklog prometheus.Gauge
	rollupLag                                       prometheus.Gauge
	// materialized counts events moved into the rollups.
	materialized prometheus.Counter
	rollupStep   prometheus.Histogram
	// rollupPhase adds up the steps' time by phase (rollup.Phase).
	rollupPhase *prometheus.CounterVec
	// held counts the drain loop's time held for the rollups.
	held prometheus.Counter
	// upkeep counts the vacuums and analyses consume-batch ran itself.
	upkeep *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfn_consume_messages_total",
			Help: "Events handled, by outcome: inserted, duplicate, dead_lettered, or retried (messages left for redelivery).",
		}, []string{"outcome"}),
		pushed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfn_consume_pushed_events_total",
			Help: "Events of push requests, by outcome: inserted, duplicate, rejected.",
		}, []string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfn_consume_failures_total",
			Help: "Failed steps, by stage: fetch, store, ack, dead_letter, rollup, upkeep.",
		}, []string{"stage"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eventfn_consume_batch_seconds",
			Help:    "Time to store and acknowledge one fetched batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eventfn_consume_batch_events",
			Help:    "Events per stored batch (one transaction).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eventfn_consume_commit_seconds",
			Help:    "Time of one batch's insert transaction, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		pending:       gauge("eventfn_consume_pending_messages", "Messages of the durable consumer not yet delivered: the consumer lag."),
		ackPending:    gauge("eventfn_consume_ack_pending_messages", "Messages delivered and not yet acknowledged (in flight, or waiting for a retry)."),
		deadLetters:   gauge("eventfn_consume_dead_letter_messages", "Messages in the dead-letter stream, one event each (or one unreadable message)."),
		rollupBacklog: gauge("eventfn_rollup_backlog_events", "Events stored but not yet in the rollups (stats read them from the feed)."),
		rollupLag:     gauge("eventfn_rollup_lag_seconds", "Age of the oldest event not yet in the rollups; 0 when there is none."),
		materialized: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventfn_rollup_materialized_events_total",
			Help: "Events moved from the feed into the rollups.",
		}),
		rollupStep: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eventfn_rollup_step_seconds",
			Help:    "Time of one materialization step (one transaction), its wait for the step before it to commit included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		rollupPhase: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfn_rollup_phase_seconds_total",
			Help: "Time of the materialization steps, by phase: claim, prepare, wait, lock, names, users, columns, first_seen, stored_days, calendar, user_days, counters, commit.",
		}, []string{"phase"}),
		held: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventfn_consume_held_seconds_total",
			Help: "Time the drain loop waited for the rollups to catch up (ROLLUP_MAX_BACKLOG_EVENTS).",
		}),
		upkeep: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfn_table_upkeep_total",
			Help: "Vacuums and analyses of eventfn's tables run by consume-batch where autovacuum does not, by action: vacuum, analyze.",
		}, []string{"action"}),
	}
	reg.MustRegister(m.messages, m.pushed, m.failures, m.batch, m.batchEvents, m.commit,
		m.pending, m.ackPending, m.deadLetters, m.rollupBacklog, m.rollupLag, m.materialized, m.rollupStep, m.rollupPhase, m.held, m.upkeep)
	// Every phase from the start, so that a rate over the first steps
	// is not missing one.
	for _, p := range rollup.Phases() {
		m.rollupPhase.WithLabelValues(p.String())
	}
	return m
}
