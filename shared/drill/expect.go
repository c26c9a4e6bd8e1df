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
	from := set.first.AddDate(0, 0, -1)
	days := set.days + 2 // an empty day either side
	to := from.AddDate(0, 0, days-1)
	rangeQ := func(extra ...string) url.Values {
		q := url.Values{"from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return q
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		panic(err) // time/tzdata is linked in through the rollup package
	}
	dayIndex := func(t time.Time, loc *time.Location) int {
		y, m, d := t.In(loc).Date()
		return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Sub(from).Hours() / 24)
	}
	active := map[*time.Location][]map[string]bool{time.UTC: make([]map[string]bool, days), ny: make([]map[string]bool, days)}
	for _, s := range active {
		for i := range s {
			s[i] = map[string]bool{}
		}
	}
	counts, users := map[string]int{}, map[string]map[string]bool{}
	userDays := map[string]map[int]bool{}
	for i := range n {
		if !counted(i) {
			continue
		}
		subject, typ, t := set.attrs(i)
		counts[typ]++
		if users[typ] == nil {
			users[typ] = map[string]bool{}
		}
		if subject == "" {
			continue
		}
		users[typ][subject] = true
		for loc, s := range active {
			s[dayIndex(t, loc)][subject] = true
		}
		if userDays[subject] == nil {
			userDays[subject] = map[int]bool{}
		}
		userDays[subject][dayIndex(t, time.UTC)] = true
	}
	dau := func(loc *time.Location) *dauAnswer {
		a := &dauAnswer{Interval: "day"}
		a.Series = make([]struct {
			Start       string `json:"start"`
			ActiveUsers int    `json:"active_users"`
		}, days)
		for d := range days {
			a.Series[d].Start = from.AddDate(0, 0, d).Format(time.DateOnly)
			a.Series[d].ActiveUsers = len(active[loc][d])
		}
		return a
	}
	top := &topAnswer{Events: []topEvent{}}
	for typ, c := range counts {
		top.Events = append(top.Events, topEvent{Type: typ, Count: c, Users: len(users[typ])})
	}
	slices.SortFunc(top.Events, func(a, b topEvent) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Type, b.Type)) })

	periods := days
	ret := &retentionAnswer{Interval: "day"}
	ret.Cohorts = make([]struct {
		Start    string `json:"start"`
		Size     int    `json:"size"`
		Retained []int  `json:"retained"`
	}, days)
	for c := range days {
		ret.Cohorts[c].Start = from.AddDate(0, 0, c).Format(time.DateOnly)
		ret.Cohorts[c].Retained = make([]int, min(periods, days-c))
	}
	for _, ds := range userDays {
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
		{fn: "stats-dau", query: rangeQ("tz", "America/New_York"), want: dau(ny)},
		{fn: "stats-top", query: rangeQ("limit", "1000"), want: top},
		{fn: "stats-retention", query: rangeQ("interval", "day", "periods", fmt.Sprint(periods)), want: ret},
	}
}

// askStats sends q to the stats function at base with a read key and
// decodes its 200 answer.
func askStats(ctx context.Context, base, key string, q statsQuery) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"?"+q.query.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := probeClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %d: %s", q.fn, resp.StatusCode, raw)
	}
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
