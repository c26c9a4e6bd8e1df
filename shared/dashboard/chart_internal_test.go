package dashboard

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNiceScale(t *testing.T) {
	for _, tc := range []struct{ hi, top, step int64 }{
		{0, 1, 1}, {1, 1, 1}, {3, 3, 1}, {7, 8, 2}, {62, 80, 20}, {100, 100, 50}, {1234, 1500, 500}, {999_999, 1_000_000, 500_000},
	} {
		top, step := niceScale(tc.hi)
		assert.Equal(t, [2]int64{tc.top, tc.step}, [2]int64{top, step}, "hi %d", tc.hi)
		assert.GreaterOrEqual(t, top, tc.hi)
		assert.Zero(t, top%step)
	}
}

func TestRatesAsTheStatsJSONWritesThem(t *testing.T) {
	for _, r := range []float64{0, 1, 0.4, 1.0 / 3, 2.0 / 3, 1e-7, 0.125} {
		b, _ := json.Marshal(r)
		assert.Equal(t, string(b), jsonNumber(r))
	}
	assert.Equal(t, 0, heatLevel(0))
	assert.Equal(t, 1, heatLevel(0.001))
	assert.Equal(t, 4, heatLevel(0.4))
	assert.Equal(t, 10, heatLevel(1))
}

func TestColumnChartLabels(t *testing.T) {
	c := newColumnChart([]string{"2026-11-01", "2026-11-02"}, []int64{3, 0})
	assert.Len(t, c.Columns, 2)
	assert.Equal(t, int64(3), c.Columns[0].H)
	assert.Equal(t, c.Top-3, c.Columns[0].Y, "a column stands on the axis")
	assert.Equal(t, "M0.12 0h0.76v3h-0.76z", c.Path, "one path, no column for a zero")
	assert.Equal(t, []axisLabel{{X: 0, Anchor: "start", Text: "2026-11-01"}, {X: 100, Anchor: "end", Text: "2026-11-02"}}, c.Labels)
	b := newBarList([]string{"a", "b"}, []int64{10, 5}, []int64{2, 1})
	assert.Equal(t, 100.0, b.Bars[0].W)
	assert.Equal(t, 50.0, b.Bars[1].W)
}
