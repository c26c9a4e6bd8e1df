package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/eventfn/eventfn/shared/stats"
)

// view is a page of numbers.
type view int

const (
	viewOverview view = iota
	viewDAU
	viewTop
	viewRetention
)

var viewNames = [...]string{"overview", "dau", "top", "retention"}

func (v view) String() string { return viewNames[v] }

// viewOf maps a path to its view, and whether it asks for the CSV of it
// (dau.csv, top.csv, retention.csv; overview has the three).
func viewOf(path string) (v view, csv, ok bool) {
	name, csv := strings.CutSuffix(strings.TrimPrefix(path, "/"), ".csv")
	for i, n := range viewNames {
		if n == name && !(csv && view(i) == viewOverview) {
			return view(i), csv, true
		}
	}
	return 0, false, false
}

// queries are the stats questions of one view, parsed by the stats
// functions' own code; vals are the query strings they were parsed from,
// for the links of each part.
type queries struct {
	dau, top, retention           *stats.Query
	dauVals, topVals, retVals     url.Values
	retentionIgnoresType, monthly bool
}

// parseView parses a view's query string the way its stats function does:
// the view's own string as it came (so that exactly what the API refuses
// is refused), and for overview the same string as stats-dau, then what
// stats-top and stats-retention make of it.
func parseView(v view, raw string, vals url.Values, maxDays int) (*queries, error) {
	qs := &queries{}
	parse := func(p func(string, int) (stats.Query, error), s string) (*stats.Query, error) {
		q, err := p(s, maxDays)
		return &q, err
	}
	var err error
	switch v {
	case viewDAU:
		qs.dau, err = parse(stats.ParseDAU, raw)
		qs.dauVals = vals
	case viewTop:
		qs.top, err = parse(stats.ParseTop, raw)
		qs.topVals = vals
	case viewRetention:
		qs.retention, err = parse(stats.ParseRetention, raw)
		qs.retVals = vals
	default:
		if qs.dau, err = parse(stats.ParseDAU, raw); err != nil {
			return qs, err
		}
		qs.dauVals = vals
		qs.topVals = carry(vals, viewTop)
		qs.retVals = carry(vals, viewRetention)
		qs.retentionIgnoresType = len(vals["type"]) > 0
		qs.monthly = vals.Get("interval") == "month"
		if qs.top, err = parse(stats.ParseTop, qs.topVals.Encode()); err != nil {
			return qs, err
		}
		qs.retention, err = parse(stats.ParseRetention, qs.retVals.Encode())
	}
	return qs, err
}

// carry returns the parameters of vals that view to takes: the common
// ones, and those of to's own. Retention has no month interval (week
// instead) and no type filter (start_type and return_type instead).
func carry(vals url.Values, to view) url.Values {
	out := url.Values{}
	for k, vs := range vals {
		keep := false
		switch k {
		case "from", "to", "tz", "source":
			keep = true
		case "type":
			keep = to != viewRetention
		case "interval":
			keep = to != viewTop
		case "limit":
			keep = to == viewTop
		case "periods", "start_type", "return_type":
			keep = to == viewRetention
		default:
			keep = strings.HasPrefix(k, "prop.")
		}
		if keep {
			out[k] = append([]string(nil), vs...)
		}
	}
	if to == viewRetention && out.Get("interval") == "month" {
		out.Set("interval", "week")
	}
	return out
}

// link is the relative URL of view v with query vals.
func link(v view, vals url.Values) string {
	if len(vals) == 0 {
		return v.String()
	}
	return v.String() + "?" + vals.Encode()
}

// defaultDays is the range a view without a query shows, up to today (UTC).
const defaultDays = 30

// serveView answers a view or its CSV: 303 to the sign-in page without a
// session, 400 with the message beside its control for a parameter the
// stats function refuses, the numbers otherwise.
func (d *Dashboard) serveView(w http.ResponseWriter, r *http.Request, v view, csv bool) {
	ctx := r.Context()
	if err := d.prepare(ctx); err != nil {
		d.failed(w, r, &page{View: "signin", Title: "Unavailable"}, err)
		return
	}
	s, ok, err := d.sessionOf(r)
	if err != nil {
		d.failed(w, r, &page{View: "signin", Title: "Unavailable"}, err)
		return
	}
	if !ok {
		seeOther(w, signInPath(r))
		return
	}
	raw := r.URL.RawQuery
	vals, _ := url.ParseQuery(raw) // a malformed string is the parser's to refuse
	if csv {
		qs, err := parseView(v, raw, vals, d.cfg.MaxRangeDays)
		d.serveCSV(w, r, v, s, qs, err)
		return
	}
	if raw == "" {
		// The view of the last 30 days, as if asked for: its links and
		// form hold the range, so what is shared from it is explicit.
		vals = rangeOf(url.Values{}, time.Now().UTC(), defaultDays)
		raw = vals.Encode()
	}
	p := d.newPage(r, s, v, vals)
	if vals.Has(formMarker) {
		canon, field, msg := canonical(vals)
		if msg == "" {
			seeOther(w, link(v, canon))
			return
		}
		p.Form.fail(field, msg)
		d.render(w, r, http.StatusBadRequest, p)
		return
	}
	qs, err := parseView(v, raw, vals, d.cfg.MaxRangeDays)
	if err != nil {
		p.Form.failWith(err)
		d.render(w, r, http.StatusBadRequest, p)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.QueryTimeout)
	defer cancel()
	if err := d.fill(ctx, r, p, s, qs); err != nil {
		d.failed(w, r, p, err)
		return
	}
	d.render(w, r, http.StatusOK, p)
}

// answers are what the stats engine said for one view.
type answers struct {
	dau       *stats.DAUResult
	top       *stats.TopResult
	retention *stats.RetentionResult
}

// ask runs the view's queries for project, at once: overview's three take
// about the time of the slowest rather than of all three.
func (d *Dashboard) ask(ctx context.Context, project string, qs *queries) (answers, error) {
	var a answers
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	run := func(q *stats.Query, f func(context.Context, *stats.Query) error) {
		if q == nil {
			return
		}
		q.Project = project
		wg.Go(func() {
			if err := f(ctx, q); err != nil {
				mu.Lock()
				first = cmpErr(first, err)
				mu.Unlock()
			}
		})
	}
	run(qs.dau, func(ctx context.Context, q *stats.Query) error {
		res, err := d.reader.DAU(ctx, q)
		a.dau = &res
		return err
	})
	run(qs.top, func(ctx context.Context, q *stats.Query) error {
		res, err := d.reader.Top(ctx, q)
		a.top = &res
		return err
	})
	run(qs.retention, func(ctx context.Context, q *stats.Query) error {
		res, err := d.reader.Retention(ctx, q)
		a.retention = &res
		return err
	})
	wg.Wait()
	return a, first
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// fill puts the view's numbers on p, and the first-run panel when the
// project has never had an event.
func (d *Dashboard) fill(ctx context.Context, r *http.Request, p *page, s session, qs *queries) error {
	a, err := d.ask(ctx, s.project, qs)
	if err != nil {
		return err
	}
	if empty := build(p, a, qs); empty {
		any, err := d.reader.HasEvents(ctx, s.project)
		if err != nil {
			return err
		}
		if !any {
			p.FirstRun = &firstRun{Curl: firstEventCurl(r, time.Now())}
		}
	}
	return nil
}

// build puts the answers on p as charts and tables, and reports whether
// they hold no number but zeros.
func build(p *page, a answers, qs *queries) (empty bool) {
	empty = true
	if a.dau != nil {
		p.DAU = newDAUView(a.dau, qs)
		empty = empty && p.DAU.Empty
	}
	if a.top != nil {
		p.Top = newTopView(a.top, qs)
		empty = empty && len(a.top.Events) == 0
	}
	if a.retention != nil {
		p.Retention = newRetentionView(a.retention, qs)
		empty = empty && p.Retention.Empty
	}
	return empty
}
