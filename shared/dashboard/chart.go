package dashboard

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// The charts are SVG drawn here, from numbers only: every text in them
// (dates, event types) goes through html/template like the rest of the
// page. Lengths are in pixels vertically and in percent horizontally, so
// a chart fills any width (375 px phones too) while its text keeps its
// size; the columns of a series sit in a nested SVG whose viewBox is
// stretched to the plot area.

// Geometry of a column chart, in pixels.
const (
	colPlotTop    = 12
	colPlotHeight = 180
	colHeight     = colPlotTop + colPlotHeight + 26
)

// columnChart is a series as columns, one per bucket.
type columnChart struct {
	// N is the number of columns; Top the value at the top of the plot.
	N, Top int64
	// Columns are the buckets; Path draws them all (one SVG path: a page
	// of many buckets renders one attribute, not a few per bucket).
	Columns []column
	Path    string
	Grid    []gridLine
	Labels  []axisLabel
	// PlotTop, PlotHeight and Height place the plot in the SVG.
	PlotTop, PlotHeight, Height, LabelY int
}

// column is one bucket, in the nested SVG's units: x in buckets, y in
// users (Y = Top - value, so the column stands on the axis).
type column struct {
	X    float64
	Y, H int64
}

// gridLine is a value line with its label, Y in pixels.
type gridLine struct {
	Y     float64
	Label string
}

// axisLabel is a bucket's date under the plot, X in percent.
type axisLabel struct {
	X      float64
	Anchor string
	Text   string
}

// newColumnChart draws values (one per bucket starting at starts[i]).
func newColumnChart(starts []string, values []int64) columnChart {
	var hi int64
	for _, v := range values {
		hi = max(hi, v)
	}
	top, step := niceScale(hi)
	c := columnChart{N: int64(len(values)), Top: top, PlotTop: colPlotTop, PlotHeight: colPlotHeight, Height: colHeight, LabelY: colHeight - 6}
	path := make([]byte, 0, 24*len(values))
	for i, v := range values {
		col := column{X: float64(i) + 0.12, Y: top - v, H: v}
		c.Columns = append(c.Columns, col)
		if v > 0 {
			path = append(path, 'M')
			path = strconv.AppendFloat(path, col.X, 'f', -1, 64)
			path = append(path, ' ')
			path = strconv.AppendInt(path, col.Y, 10)
			path = append(path, "h0.76v"...)
			path = strconv.AppendInt(path, col.H, 10)
			path = append(path, "h-0.76z"...)
		}
	}
	c.Path = string(path)
	for t := int64(0); t <= top; t += step {
		c.Grid = append(c.Grid, gridLine{Y: colPlotTop + colPlotHeight*(1-float64(t)/float64(top)), Label: strconv.FormatInt(t, 10)})
	}
	n := len(starts)
	at := func(i int, anchor string) {
		c.Labels = append(c.Labels, axisLabel{X: 100 * (float64(i) + 0.5) / float64(n), Anchor: anchor, Text: starts[i]})
	}
	switch {
	case n == 1:
		at(0, "middle")
	case n > 1:
		at(0, "start")
		if n >= 5 {
			at(n/2, "middle")
		}
		at(n-1, "end")
	}
	// The first and last labels start and end at the plot's edges.
	for i := range c.Labels {
		switch c.Labels[i].Anchor {
		case "start":
			c.Labels[i].X = 0
		case "end":
			c.Labels[i].X = 100
		}
	}
	return c
}

// niceScale returns the top of a value axis holding hi and the step of
// its lines: 1, 2 or 5 times a power of ten, about four lines.
func niceScale(hi int64) (top, step int64) {
	if hi <= 0 {
		return 1, 1
	}
	rough := float64(hi) / 4
	mag := math.Pow(10, math.Floor(math.Log10(rough)))
	step = int64(mag)
	for _, m := range []float64{1, 2, 5, 10} {
		if rough <= m*mag {
			step = int64(m * mag)
			break
		}
	}
	step = max(step, 1)
	top = (hi + step - 1) / step * step
	return top, step
}

// Geometry of a bar list, in pixels.
const (
	barRow    = 36
	barLabelY = 14
	barY      = 20
	barHeight = 10
	barLabel  = 60 // runes of a type shown in the chart; the table has all
)

// barList is the top event types as horizontal bars, each under its label.
type barList struct {
	Height int
	Bars   []bar
}

type bar struct {
	LabelY, BarY, BarHeight int
	// W is the bar's width in percent of the widest.
	W     float64
	Label string
	Title string
}

// newBarList draws one bar per type, widths relative to the largest count.
func newBarList(types []string, counts, users []int64) barList {
	var hi int64
	for _, c := range counts {
		hi = max(hi, c)
	}
	b := barList{Height: max(len(types)*barRow, barRow)}
	for i, t := range types {
		w := 0.0
		if hi > 0 {
			w = max(100*float64(counts[i])/float64(hi), 0.5)
		}
		y := i * barRow
		b.Bars = append(b.Bars, bar{LabelY: y + barLabelY, BarY: y + barY, BarHeight: barHeight, W: w,
			Label: fmt.Sprintf("%s · %d", truncate(t, barLabel), counts[i]),
			Title: fmt.Sprintf("%s: %d events, %d users", t, counts[i], users[i])})
	}
	return b
}

// truncate shortens s to n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
