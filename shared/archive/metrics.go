package archive

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts archive runs and what they moved.
type metrics struct {
	runs    *prometheus.CounterVec
	rows    prometheus.Counter
	files   prometheus.Counter
	orphans prometheus.Counter
	seconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventfn_archive_runs_total", Help: "Archive runs, by result (ok or error).",
		}, []string{"result"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventfn_archive_rows_total", Help: "Events moved from PostgreSQL into archive files.",
		}),
		files: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventfn_archive_files_total", Help: "Archive files written and committed.",
		}),
		orphans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventfn_archive_orphans_removed_total", Help: "Files of interrupted runs removed.",
		}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "eventfn_archive_run_seconds", Help: "Time of one archive run.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}),
	}
	reg.MustRegister(m.runs, m.rows, m.files, m.orphans, m.seconds)
	return m
}

// observe records one run; a failed run may still have moved some days.
func (m *metrics) observe(res Result, err error, d time.Duration) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.runs.WithLabelValues(result).Inc()
	m.rows.Add(float64(res.Rows))
	m.files.Add(float64(len(res.Files)))
	m.orphans.Add(float64(res.OrphansRemoved))
	m.seconds.Observe(d.Seconds())
}
