package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup"
)

// page is what a template renders.
type page struct {
	Title string
	// Base is the <base href> of the page: where the function's root is,
	// when a proxy said (basePath); links are relative to it.
	Base string
	// View is signin or the name of a view.
	View    string
	Project string
	// CSRF is the token of the page's POST form (sign-in or sign-out).
	CSRF string
	// Message is the sign-in page's message; Failure a view's.
	Message, Failure string
	Nav              []navLink
	Form             *queryForm
	DAU              *dauView
	Top              *topView
	Retention        *retentionView
	FirstRun         *firstRun
}

type navLink struct {
	Name, Href string
	Current    bool
}

// firstRun is the panel of a project without events: a command that sends
// one.
type firstRun struct {
	Curl string
}

// queryForm is a view's query as a GET form. The form posts to the view
// with formMarker set; the view then drops the fields left empty, turns
// the line lists into repeated parameters and answers 303 to the
// canonical URL, which alone holds the query (shareable, and the back
// button returns to it).
type queryForm struct {
	Action  string
	Fields  []field
	Presets []preset
	// General is a refusal not tied to a control (an unknown parameter).
	General string
}

// field is one control of a query form.
type field struct {
	// Param is the stats parameter the field sets, which errors name.
	Param string
	// Name is the input's name: the parameter's, or a line list's.
	Name, Label, Kind, Value, Hint, Err string
	Options                             []option
	Min, Max                            int
}

type option struct {
	Value, Label string
	Selected     bool
}

type preset struct {
	Label, Href string
	Current     bool
}

// Names of the form's own inputs, which no stats function takes.
const (
	formMarker = "_form"
	typesInput = "_types"
	propsInput = "_props"
)

// newPage returns the page of view v for session s with its form filled
// from vals as given (they may be invalid: the form shows them back).
func (d *Dashboard) newPage(r *http.Request, s session, v view, vals url.Values) *page {
	p := &page{Title: map[view]string{viewOverview: "Overview", viewDAU: "Active users", viewTop: "Top events", viewRetention: "Retention"}[v],
		View: v.String(), Project: s.project, Base: basePath(r)}
	p.CSRF = d.sessions.csrfToken(purposeSession, s.tokenHash[:])
	for _, to := range []view{viewOverview, viewDAU, viewTop, viewRetention} {
		p.Nav = append(p.Nav, navLink{Name: map[view]string{viewOverview: "Overview", viewDAU: "DAU", viewTop: "Top events", viewRetention: "Retention"}[to],
			Href: link(to, carry(clean(vals), to)), Current: to == v})
	}
	p.Form = newForm(v, vals, time.Now())
	return p
}

// clean drops the form's own inputs from vals.
func clean(vals url.Values) url.Values {
	out := url.Values{}
	for k, vs := range vals {
		if !strings.HasPrefix(k, "_") {
			out[k] = vs
		}
	}
	return out
}

func newForm(v view, vals url.Values, now time.Time) *queryForm {
	f := &queryForm{Action: v.String()}
	get := func(k string) string { return vals.Get(k) }
	f.Fields = append(f.Fields,
		field{Param: "from", Name: "from", Label: "From", Kind: "date", Value: get("from")},
		field{Param: "to", Name: "to", Label: "To", Kind: "date", Value: get("to")},
		field{Param: "tz", Name: "tz", Label: "Time zone", Kind: "text", Value: get("tz"), Hint: "IANA name, e.g. Europe/Kyiv; default UTC"},
	)
	switch v {
	case viewTop:
		f.Fields = append(f.Fields, field{Param: "limit", Name: "limit", Label: "Types shown", Kind: "number", Value: get("limit"), Min: 1, Max: 1000, Hint: "default 10"})
	case viewRetention:
		f.Fields = append(f.Fields, selectField("interval", get("interval"), "week", "day", "week"))
	default:
		f.Fields = append(f.Fields, selectField("interval", get("interval"), "day", "day", "week", "month"))
	}
	if v != viewRetention {
		types := strings.Join(vals["type"], "\n")
		if vals.Has(formMarker) {
			types = get(typesInput)
		}
		f.Fields = append(f.Fields, field{Param: "type", Name: typesInput, Label: "Event types", Kind: "lines", Value: types, Hint: "one a line; empty: all"})
	}
	f.Fields = append(f.Fields, field{Param: "source", Name: "source", Label: "Source", Kind: "text", Value: get("source"), Hint: "empty: all"})
	props := propLines(vals)
	if vals.Has(formMarker) {
		props = get(propsInput)
	}
	f.Fields = append(f.Fields, field{Param: "prop", Name: propsInput, Label: "Properties", Kind: "lines", Value: props, Hint: "KEY=VALUE, one a line; all must match"})
	if v == viewRetention {
		f.Fields = append(f.Fields,
			field{Param: "periods", Name: "periods", Label: "Periods", Kind: "number", Value: get("periods"), Min: 1, Max: 52, Hint: "default 8"},
			field{Param: "start_type", Name: "start_type", Label: "Cohort event type", Kind: "text", Value: get("start_type"), Hint: "empty: any"},
			field{Param: "return_type", Name: "return_type", Label: "Return event type", Kind: "text", Value: get("return_type"), Hint: "empty: any"},
		)
	}
	today := now.UTC()
	if loc, err := rollup.LoadZone(strings.ReplaceAll(get("tz"), " ", "+")); err == nil && get("tz") != "" {
		today = now.In(loc)
	}
	base := clean(vals)
	for _, n := range []int{7, 30, 90} {
		q := rangeOf(base, today, n)
		f.Presets = append(f.Presets, preset{Label: fmt.Sprintf("%d days", n), Href: link(v, q),
			Current: get("from") == q.Get("from") && get("to") == q.Get("to")})
	}
	return f
}

func selectField(param, value, def string, choices ...string) field {
	if value == "" {
		value = def
	}
	f := field{Param: param, Name: param, Label: "Interval", Kind: "select", Value: value}
	for _, c := range choices {
		f.Options = append(f.Options, option{Value: c, Label: c, Selected: c == value})
	}
	if !slices.Contains(choices, value) {
		// Show a refused value as it came, so the message beside it reads.
		f.Options = append(f.Options, option{Value: value, Label: value, Selected: true})
	}
	return f
}

// propLines returns the prop.KEY=VALUE parameters of vals as KEY=VALUE
// lines, sorted by key.
func propLines(vals url.Values) string {
	var keys []string
	for k := range vals {
		if strings.HasPrefix(k, "prop.") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var lines []string
	for _, k := range keys {
		for _, v := range vals[k] {
			lines = append(lines, strings.TrimPrefix(k, "prop.")+"="+v)
		}
	}
	return strings.Join(lines, "\n")
}

// rangeOf returns vals with from and to set to the n days up to today's
// date (in the zone today is in).
func rangeOf(vals url.Values, today time.Time, n int) url.Values {
	out := url.Values{}
	for k, vs := range vals {
		out[k] = vs
	}
	out.Set("to", today.Format(time.DateOnly))
	out.Set("from", today.AddDate(0, 0, 1-n).Format(time.DateOnly))
	return out
}

// canonical turns a submitted query form into the view's query string:
// fields left empty are dropped (a browser sends every field), the line
// lists become repeated type and prop.KEY parameters. A properties line
// without KEY=VALUE is refused, naming the control.
func canonical(vals url.Values) (out url.Values, param, msg string) {
	out = url.Values{}
	for k, vs := range vals {
		if strings.HasPrefix(k, "_") {
			continue
		}
		for _, v := range vs {
			if strings.TrimSpace(v) != "" {
				out.Add(k, v)
			}
		}
	}
	for _, line := range lines(vals.Get(typesInput)) {
		out.Add("type", line)
	}
	for _, line := range lines(vals.Get(propsInput)) {
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, "prop", fmt.Sprintf("properties: %q is not KEY=VALUE", line)
		}
		out.Add("prop."+k, strings.TrimSpace(v))
	}
	return out, "", ""
}

// lines returns the non-blank lines of s, without their line ends.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// failWith shows a stats parameter's refusal beside the control of the
// parameter its message names (the stats functions start every message
// with it), or above the form when no control sets it.
func (f *queryForm) failWith(err error) {
	msg := event.ErrorMessage(err)
	param, _, _ := strings.Cut(msg, ":")
	if strings.HasPrefix(param, "prop.") {
		param = "prop"
	}
	f.fail(param, msg)
}

func (f *queryForm) fail(param, msg string) {
	for i := range f.Fields {
		if f.Fields[i].Param == param {
			f.Fields[i].Err = msg
			return
		}
	}
	f.General = msg
}

var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)

// ingestURL is where the browser would reach ingest, from the page's own
// URL: the same scheme and host, and ingest's path beside this function's
// (/function/ingest/ beside /function/dashboard/, the OpenFaaS scheme of
// make run, compose and OpenFaaS); on Knative, whose hosts are
// <service>.<namespace>.<domain>, the ingest service's host.
func ingestURL(r *http.Request) string {
	scheme := "http"
	if isHTTPS(r) {
		scheme = "https"
	}
	host, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Host"), ",")
	host = strings.TrimSpace(host)
	if !hostPattern.MatchString(host) {
		host = r.Host
	}
	if !hostPattern.MatchString(host) {
		host = "127.0.0.1:8080"
	}
	if b := basePath(r); b != "" {
		dir := strings.TrimSuffix(b, "/")
		dir = dir[:strings.LastIndex(dir, "/")+1]
		return scheme + "://" + host + dir + "ingest/"
	}
	if rest, ok := strings.CutPrefix(host, "dashboard."); ok {
		return scheme + "://ingest." + rest + "/"
	}
	return scheme + "://" + host + "/function/ingest/"
}

// firstEventCurl is a command that sends one event to the project of the
// write key it is given (a placeholder: the page never holds a key).
func firstEventCurl(r *http.Request, now time.Time) string {
	return fmt.Sprintf(`curl -i -X POST '%s' \
  -H 'Authorization: Bearer YOUR_WRITE_KEY' \
  -H 'Content-Type: application/cloudevents+json' \
  -d '{"specversion":"1.0","id":"first-%d","source":"/dashboard","type":"page_view","subject":"user-1"}'`,
		ingestURL(r), now.Unix())
}
