package stats_test

import (
	"bytes"
	"encoding/json"
	"math/big"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The brute force: the contract's definitions (§6) computed over the
// generated events in the most direct way, sharing no code with the
// package under test.

type bfQuery struct {
	project            string
	from, to           time.Time // dates at UTC midnight
	loc                *time.Location
	types              []string
	source             string
	props              [][2]string
	interval           string
	limit, periods     int
	startType, retType string
}

func parseBF(project, rawQuery string) bfQuery {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		panic(err)
	}
	q := bfQuery{project: project, loc: time.UTC, interval: v.Get("interval"), limit: 10, periods: 8,
		types: v["type"], source: v.Get("source"), startType: v.Get("start_type"), retType: v.Get("return_type")}
	q.from, _ = time.Parse(time.DateOnly, v.Get("from"))
	q.to, _ = time.Parse(time.DateOnly, v.Get("to"))
	if tz := v.Get("tz"); tz != "" {
		q.loc, _ = time.LoadLocation(tz)
	}
	if s := v.Get("limit"); s != "" {
		q.limit, _ = strconv.Atoi(s)
	}
	if s := v.Get("periods"); s != "" {
		q.periods, _ = strconv.Atoi(s)
	}
	for name, vals := range v {
		if key, ok := strings.CutPrefix(name, "prop."); ok {
			for _, val := range vals {
				q.props = append(q.props, [2]string{key, val})
			}
		}
	}
	return q
}

// localDate is the calendar date of t in loc, as a UTC midnight.
func localDate(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func bucketStart(d time.Time, interval string) time.Time {
	switch interval {
	case "week":
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7)) // back to Monday
	case "month":
		return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return d
}

func nextBucket(b time.Time, interval string) time.Time {
	switch interval {
	case "week":
		return b.AddDate(0, 0, 7)
	case "month":
		return b.AddDate(0, 1, 0)
	}
	return b.AddDate(0, 0, 1)
}

func bucketList(q bfQuery) []time.Time {
	var out []time.Time
	for b := bucketStart(q.from, q.interval); !b.After(bucketStart(q.to, q.interval)); b = nextBucket(b, q.interval) {
		out = append(out, b)
	}
	return out
}

// propEquals is the contract's rule: data.KEY is the string VALUE, or a
// number equal to VALUE when VALUE is a JSON number, or the boolean VALUE.
func propEquals(e genEvent, key, value string) bool {
	switch x := e.props[key].(type) {
	case string:
		return x == value
	case bool:
		return strconv.FormatBool(x) == value
	case json.Number:
		var v any
		vd := json.NewDecoder(strings.NewReader(value))
		vd.UseNumber()
		if strings.TrimSpace(value) != value || vd.Decode(&v) != nil || vd.More() {
			return false
		}
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		a, okA := new(big.Rat).SetString(string(x))
		b, okB := new(big.Rat).SetString(string(n))
		return okA && okB && a.Cmp(b) == 0
	}
	return false
}

// decodeProps reads an event's properties: its data when that is a JSON
// object sent as application/json.
func decodeProps(e genEvent) map[string]any {
	if e.contentType != "application/json" || !bytes.HasPrefix(e.data, []byte("{")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(e.data))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return nil
	}
	return m
}

// matches applies project, source, props and, when types is not empty,
// the types.
func matches(e genEvent, q bfQuery, types []string) bool {
	if e.project != q.project || (q.source != "" && e.source != q.source) {
		return false
	}
	if len(types) > 0 {
		found := false
		for _, t := range types {
			found = found || t == e.typ
		}
		if !found {
			return false
		}
	}
	for _, p := range q.props {
		if !propEquals(e, p[0], p[1]) {
			return false
		}
	}
	return true
}

type bfPoint struct {
	Start       string `json:"start"`
	ActiveUsers int    `json:"active_users"`
}

func bruteDAU(evs []genEvent, q bfQuery) any {
	if q.interval == "" {
		q.interval = "day"
	}
	buckets := bucketList(q)
	active := map[time.Time]map[string]bool{}
	for _, e := range evs {
		if e.subject == "" || !matches(e, q, q.types) {
			continue
		}
		b := bucketStart(localDate(e.t, q.loc), q.interval)
		if active[b] == nil {
			active[b] = map[string]bool{}
		}
		active[b][e.subject] = true
	}
	series := []bfPoint{}
	for _, b := range buckets {
		series = append(series, bfPoint{b.Format(time.DateOnly), len(active[b])})
	}
	return map[string]any{"interval": q.interval, "series": series}
}

type bfType struct {
	Type  string `json:"type"`
	Count int    `json:"count"`
	Users int    `json:"users"`
}

func bruteTop(evs []genEvent, q bfQuery) any {
	counts := map[string]int{}
	users := map[string]map[string]bool{}
	for _, e := range evs {
		d := localDate(e.t, q.loc)
		if d.Before(q.from) || d.After(q.to) || !matches(e, q, q.types) {
			continue
		}
		counts[e.typ]++
		if users[e.typ] == nil {
			users[e.typ] = map[string]bool{}
		}
		if e.subject != "" {
			users[e.typ][e.subject] = true
		}
	}
	out := []bfType{}
	for typ, n := range counts {
		out = append(out, bfType{typ, n, len(users[typ])})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Count != out[b].Count {
			return out[a].Count > out[b].Count
		}
		return out[a].Type < out[b].Type
	})
	if len(out) > q.limit {
		out = out[:q.limit]
	}
	return map[string]any{"events": out}
}

type bfCohort struct {
	Start    string    `json:"start"`
	Size     int       `json:"size"`
	Retained []int     `json:"retained"`
	Rates    []float64 `json:"rates"`
}

func bruteRetention(evs []genEvent, q bfQuery) any {
	if q.interval == "" {
		q.interval = "week"
	}
	buckets := bucketList(q)
	index := map[time.Time]int{}
	for i, b := range buckets {
		index[b] = i
	}
	// First ever matching start event of each user, over all time.
	first := map[string]time.Time{}
	returned := map[string]map[int]bool{}
	for _, e := range evs {
		if e.subject == "" {
			continue
		}
		var startTypes, retTypes []string
		if q.startType != "" {
			startTypes = []string{q.startType}
		}
		if q.retType != "" {
			retTypes = []string{q.retType}
		}
		if matches(e, q, startTypes) {
			if f, ok := first[e.subject]; !ok || e.t.Before(f) {
				first[e.subject] = e.t
			}
		}
		if matches(e, q, retTypes) {
			if i, ok := index[bucketStart(localDate(e.t, q.loc), q.interval)]; ok {
				if returned[e.subject] == nil {
					returned[e.subject] = map[int]bool{}
				}
				returned[e.subject][i] = true
			}
		}
	}
	cohorts := []bfCohort{}
	for c, b := range buckets {
		n := min(q.periods, len(buckets)-c)
		co := bfCohort{Start: b.Format(time.DateOnly), Retained: make([]int, n), Rates: make([]float64, n)}
		for user, f := range first {
			if bucketStart(localDate(f, q.loc), q.interval) != b {
				continue
			}
			co.Size++
			co.Retained[0]++
			for k := 1; k < n; k++ {
				if returned[user][c+k] {
					co.Retained[k]++
				}
			}
		}
		for k := range co.Rates {
			if co.Size > 0 {
				co.Rates[k] = float64(co.Retained[k]) / float64(co.Size)
			}
		}
		cohorts = append(cohorts, co)
	}
	return map[string]any{"interval": q.interval, "cohorts": cohorts}
}
