package dashboard

import (
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/stats"
)

// BenchmarkRenderOverview is the page's own work for a 90-day overview
// without a database: charts, tables and HTML from answers in memory.
func BenchmarkRenderOverview(b *testing.B) {
	pages, err := parseTemplates()
	require.NoError(b, err)
	d := &Dashboard{pages: pages, sessions: &sessions{secret: make([]byte, 32)}, cfg: Config{MaxRangeDays: 400}}
	raw := "from=2026-08-17&to=2026-11-14"
	vals, _ := url.ParseQuery(raw)
	qs, err := parseView(viewOverview, raw, vals, 400)
	require.NoError(b, err)
	var a answers
	a.dau = &stats.DAUResult{Interval: "day"}
	for i := range 90 {
		a.dau.Series = append(a.dau.Series, stats.DAUPoint{Start: fmt.Sprintf("2026-09-%02d", i%30+1), ActiveUsers: int64(1000 + i)})
	}
	a.top = &stats.TopResult{}
	for i := range 10 {
		a.top.Events = append(a.top.Events, stats.TopEvent{Type: fmt.Sprintf("type_%02d", i), Count: int64(100000 - i), Users: 5000})
	}
	a.retention = &stats.RetentionResult{Interval: "week"}
	for c := range 13 {
		co := stats.Cohort{Start: "2026-08-17", Size: 1000}
		for k := range min(8, 13-c) {
			co.Retained = append(co.Retained, int64(1000-k*37))
			co.Rates = append(co.Rates, float64(1000-k*37)/1000)
		}
		a.retention.Cohorts = append(a.retention.Cohorts, co)
	}
	r := httptest.NewRequest("GET", "/overview?"+raw, nil)
	for b.Loop() {
		p := d.newPage(r, session{project: "bench"}, viewOverview, vals)
		build(p, a, qs)
		require.NoError(b, d.pages.ExecuteTemplate(io.Discard, "page", p))
	}
}
