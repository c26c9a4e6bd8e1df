package stats

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup"
)

// kind is which stats function a query is for.
type kind int

const (
	kindDAU kind = iota
	kindTop
	kindRetention
)

func (k kind) String() string {
	return [...]string{"stats-dau", "stats-top", "stats-retention"}[k]
}

// Prop is one prop.KEY=VALUE filter.
type Prop struct {
	Key, Value string
}

// Query is a validated stats request.
type Query struct {
	Project string
	// From and To are the requested days, inclusive, as given.
	From, To rollup.Day
	TZ       string
	Loc      *time.Location
	// Types limits events to these types (stats-dau, stats-top); empty: all.
	Types []string
	// Props are ANDed property filters.
	Props []Prop
	// Source limits events to one source when set.
	Source string
	// Interval is the bucket size (stats-dau, stats-retention).
	Interval rollup.Grain
	// Limit is the most types stats-top returns.
	Limit int
	// Periods is the most buckets a retention cohort follows.
	Periods int
	// StartType and ReturnType narrow the cohort-defining and the returning
	// events of stats-retention when set.
	StartType, ReturnType string
}

// First and Last are the first days of the first and last buckets: From
// rounded down to its bucket, and To's bucket.
func (q *Query) First() rollup.Day { return q.Interval.Bucket(q.From) }

// Last is the first day of the last bucket.
func (q *Query) Last() rollup.Day { return q.Interval.Bucket(q.To) }

// End is the day after the last bucket.
func (q *Query) End() rollup.Day { return q.Interval.Next(q.Last()) }

// Buckets lists the first day of every bucket in range, in order.
func (q *Query) Buckets() []rollup.Day {
	var out []rollup.Day
	for b := q.First(); b <= q.Last(); b = q.Interval.Next(b) {
		out = append(out, b)
	}
	return out
}

// Limits of the query parameters (contract §6).
const (
	DefaultLimit   = 10
	MaxLimit       = 1000
	DefaultPeriods = 8
	MaxPeriods     = 52
)

// single-valued parameters of each function besides the common ones.
var params = map[kind][]string{
	kindDAU:       {"interval"},
	kindTop:       {"limit"},
	kindRetention: {"interval", "periods", "start_type", "return_type"},
}

func invalid(param, format string, args ...any) error {
	return event.Errorf(event.CodeInvalid, "%s: %s", param, fmt.Sprintf(format, args...))
}

// parseQuery validates the query string of a request to function k. Every
// error is an *event.Error (CodeInvalid) whose message starts with the
// parameter's name. Unknown parameters are refused, so that a misspelt
// filter never silently widens a result; for the same reason `type` is
// refused by stats-retention, whose event types are start_type and
// return_type (contract §6).
func parseQuery(k kind, raw string, maxRangeDays int) (Query, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return Query{}, event.Errorf(event.CodeInvalid, "query string: %v", err)
	}
	q := Query{TZ: "UTC", Interval: rollup.GrainDay, Limit: DefaultLimit, Periods: DefaultPeriods}
	if k == kindRetention {
		q.Interval = rollup.GrainWeek
	}
	allowed := map[string]bool{"from": true, "to": true, "tz": true, "type": true, "source": true}
	for _, p := range params[k] {
		allowed[p] = true
	}
	names := make([]string, 0, len(vals))
	for name := range vals {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		vs := vals[name]
		if strings.HasPrefix(name, "prop.") {
			key := strings.TrimPrefix(name, "prop.")
			if key == "" {
				return Query{}, invalid(name, "name the property: prop.KEY=VALUE")
			}
			for _, v := range vs {
				q.Props = append(q.Props, Prop{Key: key, Value: v})
			}
			continue
		}
		if !allowed[name] {
			return Query{}, invalid(name, "unknown parameter for %s", k)
		}
		if name == "type" {
			if k == kindRetention {
				return Query{}, invalid(name, "stats-retention does not filter by type: use start_type (the events that put a user in a cohort) and return_type (the events that count as a return)")
			}
			for _, v := range vs {
				if v == "" {
					return Query{}, invalid(name, "must not be empty")
				}
				if !storableText(v) {
					return Query{}, invalid(name, "must be UTF-8 text without NUL")
				}
				q.Types = append(q.Types, v)
			}
			continue
		}
		if len(vs) > 1 {
			return Query{}, invalid(name, "give it once")
		}
		if err := q.set(k, name, vs[0]); err != nil {
			return Query{}, err
		}
	}
	for _, p := range []string{"from", "to"} {
		if _, ok := vals[p]; !ok {
			return Query{}, invalid(p, "required, a date YYYY-MM-DD")
		}
	}
	if q.To < q.From {
		return Query{}, invalid("to", "%s is before from %s", q.To, q.From)
	}
	if int(q.To-q.From) > maxRangeDays {
		return Query{}, invalid("to", "at most %d days after from", maxRangeDays)
	}
	if q.Loc == nil {
		q.Loc = time.UTC
	}
	sort.Strings(q.Types)
	return q, nil
}

func (q *Query) set(k kind, name, v string) error {
	var err error
	switch name {
	case "from":
		if q.From, err = rollup.ParseDay(v); err != nil {
			return invalid(name, "%q is not a date YYYY-MM-DD", v)
		}
	case "to":
		if q.To, err = rollup.ParseDay(v); err != nil {
			return invalid(name, "%q is not a date YYYY-MM-DD", v)
		}
	case "tz":
		// No zone name holds a space: one is a "+" that a query string
		// read as a space (Etc/GMT+5 sent unencoded).
		v = strings.ReplaceAll(v, " ", "+")
		if q.Loc, err = rollup.LoadZone(v); err != nil {
			return invalid(name, "%q is not an IANA time zone such as UTC or Europe/Kyiv", v)
		}
		q.TZ = v
	case "source", "start_type", "return_type":
		if v == "" {
			return invalid(name, "must not be empty")
		}
		if !storableText(v) {
			return invalid(name, "must be UTF-8 text without NUL")
		}
		switch name {
		case "source":
			// Either spelling of a source finds its events: "/ü a" and
			// "/%C3%BC%20a" are stored alike.
			q.Source = event.StoredSource(v)
		case "start_type":
			q.StartType = v
		default:
			q.ReturnType = v
		}
	case "interval":
		switch {
		case v == "day":
			q.Interval = rollup.GrainDay
		case v == "week":
			q.Interval = rollup.GrainWeek
		case v == "month" && k == kindDAU:
			q.Interval = rollup.GrainMonth
		case k == kindDAU:
			return invalid(name, "%q is not day, week or month", v)
		default:
			return invalid(name, "%q is not day or week", v)
		}
	case "limit":
		if q.Limit, err = strconv.Atoi(v); err != nil || q.Limit < 1 || q.Limit > MaxLimit {
			return invalid(name, "%q is not an integer from 1 to %d", v, MaxLimit)
		}
	case "periods":
		if q.Periods, err = strconv.Atoi(v); err != nil || q.Periods < 1 || q.Periods > MaxPeriods {
			return invalid(name, "%q is not an integer from 1 to %d", v, MaxPeriods)
		}
	}
	return nil
}

// intervalName is the JSON name of a grain.
func intervalName(g rollup.Grain) string {
	switch g {
	case rollup.GrainWeek:
		return "week"
	case rollup.GrainMonth:
		return "month"
	default:
		return "day"
	}
}

// storableText reports whether v can be a stored name: PostgreSQL's text
// holds neither NUL nor bytes that are not UTF-8, and would answer a
// lookup of one with an error rather than "no such name".
func storableText(v string) bool {
	return utf8.ValidString(v) && !strings.ContainsRune(v, 0)
}
