package dashboard

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/eventfn/eventfn/shared/stats"
)

// The §9 tables under the charts: the numbers for machines (data-*
// attributes holding the strings of the stats JSON) and for people who do
// not see the chart.

// dauView is a stats-dau answer as a chart and a table.
type dauView struct {
	Interval string
	Rows     []stats.DAUPoint
	Chart    columnChart
	// Empty is true when no bucket has an active user.
	Empty bool
	// CSV and Link are the CSV download and the view of the same query.
	CSV, Link string
}

func newDAUView(res *stats.DAUResult, qs *queries) *dauView {
	v := &dauView{Interval: res.Interval, Rows: res.Series, Empty: true,
		CSV: "dau.csv?" + qs.dauVals.Encode(), Link: link(viewDAU, qs.dauVals)}
	starts := make([]string, len(res.Series))
	values := make([]int64, len(res.Series))
	for i, p := range res.Series {
		starts[i], values[i] = p.Start, p.ActiveUsers
		if p.ActiveUsers > 0 {
			v.Empty = false
		}
	}
	v.Chart = newColumnChart(starts, values)
	return v
}

// topView is a stats-top answer as bars and a table.
type topView struct {
	Rows      []stats.TopEvent
	Chart     barList
	CSV, Link string
}

func newTopView(res *stats.TopResult, qs *queries) *topView {
	v := &topView{Rows: res.Events, CSV: "top.csv?" + qs.topVals.Encode(), Link: link(viewTop, qs.topVals)}
	types := make([]string, len(res.Events))
	counts := make([]int64, len(res.Events))
	users := make([]int64, len(res.Events))
	for i, e := range res.Events {
		types[i], counts[i], users[i] = e.Type, e.Count, e.Users
	}
	v.Chart = newBarList(types, counts, users)
	return v
}

// retentionView is a stats-retention answer as a heatmap: a table whose
// cells are coloured by rate (classes h0 to h10 of style.css).
type retentionView struct {
	Interval string
	// Periods numbers the columns: 0 up to the longest cohort's last.
	Periods []int
	Rows    []cohortRow
	Empty   bool
	// IgnoresType says that overview's type filter does not apply here.
	IgnoresType bool
	// Weekly says that overview's monthly interval became weeks here.
	Weekly    bool
	CSV, Link string
}

type cohortRow struct {
	Start string
	Size  int64
	Cells []cohortCell
	// Pad is the empty cells after the cohort's last period (buckets after
	// to), so the columns line up.
	Pad []struct{}
}

type cohortCell struct {
	Period   int
	Retained int64
	// Rate is the rate as encoding/json writes it in the stats answer.
	Rate string
	// Percent is the rate for people; Level its colour, 0 to 10.
	Percent string
	Level   int
}

func newRetentionView(res *stats.RetentionResult, qs *queries) *retentionView {
	v := &retentionView{Interval: res.Interval, Empty: true, IgnoresType: qs.retentionIgnoresType, Weekly: qs.monthly,
		CSV: "retention.csv?" + qs.retVals.Encode(), Link: link(viewRetention, qs.retVals)}
	width := 0
	for _, c := range res.Cohorts {
		width = max(width, len(c.Retained))
	}
	for k := range width {
		v.Periods = append(v.Periods, k)
	}
	for _, c := range res.Cohorts {
		row := cohortRow{Start: c.Start, Size: c.Size, Pad: make([]struct{}, width-len(c.Retained))}
		if c.Size > 0 {
			v.Empty = false
		}
		for k, n := range c.Retained {
			rate := c.Rates[k]
			row.Cells = append(row.Cells, cohortCell{Period: k, Retained: n, Rate: jsonNumber(rate),
				Percent: fmt.Sprintf("%.1f%%", 100*rate), Level: heatLevel(rate)})
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

// jsonNumber formats f exactly as encoding/json does in the stats answer.
func jsonNumber(f float64) string {
	b, err := json.Marshal(f)
	if err != nil {
		return "0" // NaN or Inf: never a rate
	}
	return string(b)
}

// heatLevel is a rate's colour: 0 for none, then one step per tenth.
func heatLevel(rate float64) int {
	if rate <= 0 || math.IsNaN(rate) {
		return 0
	}
	return min(int(math.Ceil(rate*10)), 10)
}
