package drill

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"time"
)

// The stats answers the drill compares, as the contract gives them (§6);
// rates are left out: they follow from size and retained.
type (
	dauAnswer struct {
		Interval string `json:"interval"`
		Series   []struct {
			Start       string `json:"start"`
			ActiveUsers int    `json:"active_users"`
		} `json:"series"`
	}
	topAnswer struct {
		Events []topEvent `json:"events"`
	}
	topEvent struct {
		Type  string `json:"type"`
		Count int    `json:"count"`
		Users int    `json:"users"`
	}
	retentionAnswer struct {
		Interval string `json:"interval"`
		Cohorts  []struct {
			Start    string `json:"start"`
			Size     int    `json:"size"`
			Retained []int  `json:"retained"`
		} `json:"cohorts"`
	}
)

// statsQuery is one request to a stats function and the answer the
// client's own record of its events says it must get.
type statsQuery struct {
	fn    string // stats-dau, stats-top, stats-retention
	query url.Values
	want  any // *dauAnswer, *topAnswer or *retentionAnswer
}

// label names the query in the report.
func (q statsQuery) label() string { return q.fn + "?" + q.query.Encode() }

// newAnswer returns an empty answer of the query's kind to decode into.
func (q statsQuery) newAnswer() any { return reflect.New(reflect.TypeOf(q.want).Elem()).Interface() }

// expectedStats computes, from the events counted (those the client was
// answered 2xx for, and any other it finds stored), the answers of the
// stats functions over the whole range: DAU by UTC day (the rollup path),
// DAU by day in New York (the column path, ROLLUP_TIMEZONES being UTC),
// top events, and daily retention.
func expectedStats(set *eventSet, n int, counted func(i int) bool) []statsQuery {
	c := newStatsCount(set)
	for i := range n {
		if counted(i) {
			c.add(i)
		}
	}
	return c.queries()
}

// statsCount is the client's own count of the stats over the events added
// to it, from the events' attributes alone.
type statsCount struct {
	set      *eventSet
	from     time.Time // the range: an empty day either side of the events'
	days     int
	ny       *time.Location
	active   map[*time.Location][]map[string]bool // by day: the subjects active
	counts   map[string]int                       // by type
	users    map[string]map[string]bool           // by type: the subjects
	userDays map[string]map[int]bool              // by subject: its UTC days
}

func newStatsCount(set *eventSet) *statsCount {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		panic(err) // time/tzdata is linked in through the rollup package
	}
	c := &statsCount{set: set, from: set.first.AddDate(0, 0, -1), days: set.days + 2, ny: ny,
		counts: map[string]int{}, users: map[string]map[string]bool{}, userDays: map[string]map[int]bool{}}
	c.active = map[*time.Location][]map[string]bool{time.UTC: make([]map[string]bool, c.days), ny: make([]map[string]bool, c.days)}
	for _, s := range c.active {
		for i := range s {
			s[i] = map[string]bool{}
		}
	}
	return c
}

func (c *statsCount) dayIndex(t time.Time, loc *time.Location) int {
	y, m, d := t.In(loc).Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Sub(c.from).Hours() / 24)
}

// add counts event i.
func (c *statsCount) add(i int) {
	subject, typ, t := c.set.attrs(i)
	c.counts[typ]++
	if c.users[typ] == nil {
		c.users[typ] = map[string]bool{}
	}
	if subject == "" {
		return
	}
	c.users[typ][subject] = true
	for loc, s := range c.active {
		s[c.dayIndex(t, loc)][subject] = true
	}
	if c.userDays[subject] == nil {
		c.userDays[subject] = map[int]bool{}
	}
	c.userDays[subject][c.dayIndex(t, time.UTC)] = true
}

// queries returns the four queries and the answers of the events added.
func (c *statsCount) queries() []statsQuery {
	from, days := c.from, c.days
	to := from.AddDate(0, 0, days-1)
	rangeQ := func(extra ...string) url.Values {
		q := url.Values{"from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return q
	}
	dau := func(loc *time.Location) *dauAnswer {
		a := &dauAnswer{Interval: "day"}
		a.Series = make([]struct {
			Start       string `json:"start"`
			ActiveUsers int    `json:"active_users"`
		}, days)
		for d := range days {
			a.Series[d].Start = from.AddDate(0, 0, d).Format(time.DateOnly)
			a.Series[d].ActiveUsers = len(c.active[loc][d])
		}
		return a
	}
	top := &topAnswer{Events: []topEvent{}}
	for typ, n := range c.counts {
		top.Events = append(top.Events, topEvent{Type: typ, Count: n, Users: len(c.users[typ])})
	}
	slices.SortFunc(top.Events, func(a, b topEvent) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Type, b.Type)) })

	periods := days
	ret := &retentionAnswer{Interval: "day"}
	ret.Cohorts = make([]struct {
		Start    string `json:"start"`
		Size     int    `json:"size"`
		Retained []int  `json:"retained"`
	}, days)
	for co := range days {
		ret.Cohorts[co].Start = from.AddDate(0, 0, co).Format(time.DateOnly)
		ret.Cohorts[co].Retained = make([]int, min(periods, days-co))
	}
	for _, ds := range c.userDays {
		first := days
		for d := range ds {
			first = min(first, d)
		}
		co := &ret.Cohorts[first]
		co.Size++
		for k := range co.Retained {
			if ds[first+k] {
				co.Retained[k]++
			}
		}
	}
	return []statsQuery{
		{fn: "stats-dau", query: rangeQ(), want: dau(time.UTC)},
		{fn: "stats-dau", query: rangeQ("tz", "America/New_York"), want: dau(c.ny)},
		{fn: "stats-top", query: rangeQ("limit", "1000"), want: top},
		{fn: "stats-retention", query: rangeQ("interval", "day", "periods", fmt.Sprint(periods)), want: ret},
	}
}

// askStats sends q to the stats function at base with a read key and
// decodes its 200 answer.
func askStats(ctx context.Context, base, key string, q statsQuery) (any, error) {
	status, raw, err := getStats(ctx, base, key, q, time.Minute)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%s answered %d: %s", q.fn, status, raw)
	}
	return decodeAnswer(q, raw)
}

// getStats sends q to the stats function at base with a read key and
// returns the status and body, whatever the status.
func getStats(ctx context.Context, base, key string, q statsQuery, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"?"+q.query.Encode(), nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

func decodeAnswer(q statsQuery, raw []byte) (any, error) {
	got := q.newAnswer()
	if err := json.Unmarshal(raw, got); err != nil {
		return nil, fmt.Errorf("%s: %w", q.fn, err)
	}
	return got, nil
}

// sameAnswer reports whether two decoded answers are equal, and if not,
// a short account of the first difference.
func sameAnswer(got, want any) (bool, string) {
	if reflect.DeepEqual(got, want) {
		return true, ""
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	lo := max(i-80, 0)
	return false, fmt.Sprintf("differs at byte %d: got …%s… want …%s…", i, snippet(g, lo, i+80), snippet(w, lo, i+80))
}

func snippet(b []byte, lo, hi int) string { return string(b[min(lo, len(b)):min(hi, len(b))]) }
