package dashboard_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/eventfn/eventfn/shared/stats"
)

// noKeyIn fails when a response shows any key of the fixture.
func noKeyIn(t *testing.T, r reply) {
	t.Helper()
	for _, k := range []string{readKey, writeKey, otherReadKey, emptyReadKey} {
		assert.NotContains(t, r.body, k, "a key in a page")
		for name, vs := range r.header {
			for _, v := range vs {
				assert.NotContains(t, v, k, "a key in header %s", name)
			}
		}
	}
}

func cookieOf(r reply, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestSignIn: §9's statuses of sign-in, the cookie's attributes, and no
// key in any answer.
func TestSignIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 300)
	c := newClient(t, f.dash)

	form := c.get("/")
	require.Equal(t, http.StatusOK, form.status)
	forms := elements(t, form.body, func(n *html.Node) bool { return n.Data == "form" && attrs(n)["method"] == "post" })
	require.Len(t, forms, 1, "a <form method=post>")
	assert.Len(t, elements(t, form.body, func(n *html.Node) bool { return n.Data == "input" && attrs(n)["name"] == "key" }), 1, "an <input name=key>")
	assert.Equal(t, "no-store", form.header.Get("Cache-Control"))
	csp := form.header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.NotContains(t, csp, "script-src", "no script source is allowed at all")
	assert.Empty(t, elements(t, form.body, func(n *html.Node) bool { return n.Data == "script" }), "no scripts")

	post := func(key string, header map[string]string) reply {
		r := c.do(http.MethodPost, "/", url.Values{"key": {key}}, header)
		noKeyIn(t, r)
		return r
	}
	for _, tc := range []struct {
		name, key string
		status    int
		message   string
	}{
		{"missing key", "", http.StatusUnauthorized, "Enter a read key."},
		{"unknown key", "rk_nobody", http.StatusUnauthorized, "Unknown key"},
		{"write key", writeKey, http.StatusForbidden, "write key"},
	} {
		r := post(tc.key, nil)
		assert.Equal(t, tc.status, r.status, tc.name)
		msg, ok := byID(t, r.body, "signin-error")
		assert.True(t, ok, "%s: a message", tc.name)
		assert.Contains(t, msg, tc.message, tc.name)
		assert.Len(t, elements(t, r.body, func(n *html.Node) bool { return n.Data == "input" && attrs(n)["name"] == "key" }), 1, "%s: the form again", tc.name)
		assert.Nil(t, cookieOf(r, "eventfn_session"), tc.name)
	}

	ok := post(readKey, nil)
	require.Equal(t, http.StatusSeeOther, ok.status, ok.body)
	assert.Equal(t, "overview", ok.header.Get("Location"))
	s := cookieOf(ok, "eventfn_session")
	require.NotNil(t, s)
	assert.True(t, s.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, s.SameSite)
	assert.False(t, s.Secure, "plain HTTP")
	assert.Equal(t, http.StatusOK, c.get("/overview?from=2026-10-05&to=2026-10-11").status, "signed in")

	// Behind HTTPS (a proxy says so), and mounted by a gateway.
	behind := post(readKey, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/function/dashboard"})
	require.Equal(t, http.StatusSeeOther, behind.status)
	assert.Equal(t, "/function/dashboard/overview", behind.header.Get("Location"))
	s = cookieOf(behind, "eventfn_session")
	require.NotNil(t, s)
	assert.True(t, s.Secure)
	assert.Equal(t, "/function/dashboard/", s.Path)

	// The key is trimmed as a bearer token is.
	assert.Equal(t, http.StatusSeeOther, post("  "+readKey+" ", nil).status)
}

// TestViewsNeedASession: without a live session every view and CSV
// answers 303 to the sign-in page.
func TestViewsNeedASession(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	c := newClient(t, f.dash)
	for _, path := range []string{"/overview", "/dau?from=2026-10-05&to=2026-10-11", "/top", "/retention", "/dau.csv", "/top.csv?from=2026-10-05&to=2026-10-11", "/retention.csv"} {
		r := c.get(path)
		assert.Equal(t, http.StatusSeeOther, r.status, path)
		assert.Equal(t, "./", r.header.Get("Location"), path)
	}
	r := c.do(http.MethodGet, "/overview", nil, map[string]string{"Cookie": "eventfn_session=forged", "X-Forwarded-Prefix": "/function/dashboard"})
	assert.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, "/function/dashboard/", r.header.Get("Location"))
	assert.Equal(t, http.StatusNotFound, c.get("/nope").status)
	doc := c.get("/openapi.json")
	require.Equal(t, http.StatusOK, doc.status)
	var api struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(doc.body), &api))
	assert.Equal(t, "3.1.0", api.OpenAPI)
	for _, p := range []string{"/", "/logout", "/overview", "/dau", "/top", "/retention", "/dau.csv"} {
		assert.Contains(t, api.Paths, p)
	}
	assert.Equal(t, http.StatusMethodNotAllowed, c.do(http.MethodPost, "/overview", url.Values{}, nil).status)
}

// TestRefusedParameters: what a stats function refuses, the view refuses
// with 400 and the function's own message beside the control.
func TestRefusedParameters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	c := newClient(t, f.dash)
	require.Equal(t, http.StatusSeeOther, c.signIn(readKey).status)
	const rng = "from=2026-10-05&to=2026-10-20"
	for _, tc := range []struct{ view, fn, query, control string }{
		{"dau", "stats-dau", "from=2026-13-01&to=2026-10-20", "err-from"},
		{"dau", "stats-dau", "from=2026-10-05", "err-to"},
		{"dau", "stats-dau", rng + "&tz=Mars/Olympus", "err-tz"},
		{"dau", "stats-dau", rng + "&interval=year", "err-interval"},
		{"dau", "stats-dau", rng + "&limit=5", "err-general"},
		{"dau", "stats-dau", rng + "&prop.=x", "err-prop"},
		{"dau", "stats-dau", rng + "&source=", "err-source"},
		{"overview", "stats-dau", rng + "&interval=hour", "err-interval"},
		{"overview", "stats-dau", "from=2020-01-01&to=2026-10-20", "err-to"},
		{"top", "stats-top", rng + "&limit=0", "err-limit"},
		{"top", "stats-top", rng + "&type=", "err-type"},
		{"retention", "stats-retention", rng + "&periods=99", "err-periods"},
		{"retention", "stats-retention", rng + "&interval=month", "err-interval"},
		{"retention", "stats-retention", rng + "&start_type=", "err-start_type"},
	} {
		status, want := f.statsJSON(t, tc.fn, tc.query, readKey, nil)
		require.Equal(t, http.StatusBadRequest, status, "%s?%s: the API refuses it", tc.fn, tc.query)
		r := c.get("/" + tc.view + "?" + tc.query)
		assert.Equal(t, http.StatusBadRequest, r.status, "%s?%s", tc.view, tc.query)
		got, ok := byID(t, r.body, tc.control)
		assert.True(t, ok, "%s?%s: the message at %s", tc.view, tc.query, tc.control)
		assert.Equal(t, want, got, "%s?%s: the API's message", tc.view, tc.query)
		assert.Empty(t, readNumbers(t, r.body).views, "no numbers with a refused parameter")
		if tc.view != "overview" {
			csv := c.get("/" + tc.view + ".csv?" + tc.query)
			assert.Equal(t, http.StatusBadRequest, csv.status)
			assert.Equal(t, want+"\n", csv.body)
		}
	}
}

// TestCSRF: every POST from a browser needs its form's token; a form
// another site makes is refused.
func TestCSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	browser := map[string]string{"Origin": f.dash, "Sec-Fetch-Site": "same-origin"}

	c := newClient(t, f.dash)
	page := c.get("/")
	token := csrf(t, page.body)
	r := c.do(http.MethodPost, "/", url.Values{"key": {readKey}}, browser)
	assert.Equal(t, http.StatusForbidden, r.status, "a browser's sign-in without the token")
	assert.Nil(t, cookieOf(r, "eventfn_session"))
	r = c.do(http.MethodPost, "/", url.Values{"key": {readKey}, "csrf": {"x" + token}}, browser)
	assert.Equal(t, http.StatusForbidden, r.status, "a wrong token")

	other := newClient(t, f.dash) // its own sign-in cookie: the token is not bound to it
	r = other.do(http.MethodPost, "/", url.Values{"key": {readKey}, "csrf": {token}}, browser)
	assert.Equal(t, http.StatusForbidden, r.status, "a token bound to another browser's cookie")

	page = c.get("/")
	r = c.do(http.MethodPost, "/", url.Values{"key": {readKey}, "csrf": {csrf(t, page.body)}},
		map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	assert.Equal(t, http.StatusForbidden, r.status, "a cross-site form, whatever it carries")

	page = c.get("/")
	r = c.do(http.MethodPost, "/", url.Values{"key": {readKey}, "csrf": {csrf(t, page.body)}}, browser)
	require.Equal(t, http.StatusSeeOther, r.status, "the form's own token")
	session := cookieOf(r, "eventfn_session")
	require.NotNil(t, session)

	overview := c.get("/overview?from=2026-10-05&to=2026-10-11")
	require.Equal(t, http.StatusOK, overview.status)
	r = c.do(http.MethodPost, "/logout", url.Values{}, browser)
	assert.Equal(t, http.StatusForbidden, r.status, "sign-out without the token")
	assert.Equal(t, http.StatusOK, c.get("/overview?from=2026-10-05&to=2026-10-11").status, "still signed in")
	r = c.do(http.MethodPost, "/logout", url.Values{"csrf": {csrf(t, page.body)}}, browser)
	assert.Equal(t, http.StatusForbidden, r.status, "sign-out with the sign-in form's token")

	r = c.do(http.MethodPost, "/logout", url.Values{"csrf": {csrf(t, overview.body)}}, browser)
	require.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, "./", r.header.Get("Location"))
	assert.Equal(t, http.StatusSeeOther, c.get("/overview?from=2026-10-05&to=2026-10-11").status, "signed out")
	// The session ended on the server: a copy of the cookie is worth nothing.
	replay := newClient(t, f.dash)
	r = replay.do(http.MethodGet, "/overview?from=2026-10-05&to=2026-10-11", nil, map[string]string{"Cookie": "eventfn_session=" + session.Value})
	assert.Equal(t, http.StatusSeeOther, r.status, "a copied cookie after sign-out")

	// A client that is no browser (no Origin, no Sec-Fetch-Site) posts the
	// form as the contract describes it.
	script := newClient(t, f.dash)
	require.Equal(t, http.StatusSeeOther, script.do(http.MethodPost, "/", url.Values{"key": {readKey}}, nil).status)
	require.Equal(t, http.StatusSeeOther, script.do(http.MethodPost, "/logout", url.Values{}, nil).status)
	assert.Equal(t, http.StatusSeeOther, script.get("/overview?from=2026-10-05&to=2026-10-11").status)
}

// TestEscaping: event types, sources and property values holding markup
// show as text, in tables, charts, forms and links.
func TestEscaping(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 600)
	c := newClient(t, f.dash)
	require.Equal(t, http.StatusSeeOther, c.signIn(readKey).status)
	q := url.Values{"from": {"2026-10-05"}, "to": {"2026-11-13"}}
	for _, path := range []string{
		"/overview?" + q.Encode(),
		"/top?" + q.Encode() + "&" + url.Values{"source": {imgSource}, "prop.plan": {imgValue}}.Encode(),
		"/dau?" + q.Encode() + "&" + url.Values{"type": {scriptType}, "prop.plan": {imgValue}}.Encode(),
		"/retention?" + q.Encode() + "&" + url.Values{"start_type": {scriptType}, "source": {imgSource}}.Encode(),
		"/top?" + q.Encode() + "&" + url.Values{"tz": {`"><script>alert(3)</script>`}}.Encode(), // refused, shown back
	} {
		r := c.get(path)
		require.Contains(t, []int{http.StatusOK, http.StatusBadRequest}, r.status, path)
		for _, raw := range []string{"<script>alert", "<img src=x"} {
			assert.NotContains(t, r.body, raw, "%s: markup from an event in the page", path)
		}
		assert.Empty(t, elements(t, r.body, func(n *html.Node) bool {
			if n.Data == "script" || n.Data == "img" {
				return true
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					return true
				}
			}
			return false
		}), "%s: no script, image or event handler", path)
	}
	// The texts are there, as text.
	r := c.get("/top?" + q.Encode() + "&" + url.Values{"source": {imgSource}}.Encode())
	require.Equal(t, http.StatusOK, r.status)
	var api stats.TopResult
	status, _ := f.statsJSON(t, "stats-top", q.Encode()+"&"+url.Values{"source": {imgSource}}.Encode(), readKey, &api)
	require.Equal(t, http.StatusOK, status)
	require.NotEmpty(t, api.Events)
	assert.Equal(t, api.Events, readNumbers(t, r.body).top)
	assert.Contains(t, func() []string {
		var out []string
		for _, e := range readNumbers(t, r.body).top {
			out = append(out, e.Type)
		}
		return out
	}(), scriptType, "the type as it was sent, read back from data-type")
	src := elements(t, r.body, func(n *html.Node) bool { return attrs(n)["id"] == "in-source" })
	require.Len(t, src, 1)
	assert.Equal(t, imgSource, attrs(src[0])["value"], "the source filter shown back as given")
}

// TestQueryFormGoesToTheCanonicalURL: the GET form's submission answers
// 303 to the view's URL holding the query alone; a properties line that is
// no KEY=VALUE is refused beside its control.
func TestQueryFormGoesToTheCanonicalURL(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	c := newClient(t, f.dash)
	require.Equal(t, http.StatusSeeOther, c.signIn(readKey).status)
	form := url.Values{"_form": {"1"}, "from": {"2026-10-05"}, "to": {"2026-10-20"}, "tz": {""}, "source": {" "}, "interval": {"week"},
		"_types": {"page_view\r\n\r\n" + scriptType + "\r\n"}, "_props": {"plan = pro\nn=2"}}
	r := c.get("/dau?" + form.Encode())
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	loc, err := url.Parse(r.header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "dau", loc.Path)
	assert.Equal(t, url.Values{"from": {"2026-10-05"}, "to": {"2026-10-20"}, "interval": {"week"},
		"type": {"page_view", scriptType}, "prop.plan": {"pro"}, "prop.n": {"2"}}, loc.Query())
	assert.Equal(t, http.StatusOK, c.get("/"+loc.String()).status)

	form.Set("_props", "plan")
	r = c.get("/dau?" + form.Encode())
	assert.Equal(t, http.StatusBadRequest, r.status)
	msg, ok := byID(t, r.body, "err-prop")
	assert.True(t, ok)
	assert.Contains(t, msg, "KEY=VALUE")

	// A view without a query shows the last 30 days, and its links and
	// form hold that range.
	r = c.get("/top")
	require.Equal(t, http.StatusOK, r.status)
	today := time.Now().UTC()
	_, ok = byID(t, r.body, "field-from")
	require.True(t, ok)
	in := elements(t, r.body, func(n *html.Node) bool { return attrs(n)["id"] == "in-to" })
	require.Len(t, in, 1)
	assert.Contains(t, []string{today.Format(time.DateOnly), today.Add(-time.Minute).Format(time.DateOnly)}, attrs(in[0])["value"])
	assert.Contains(t, r.body, `href="top.csv?from=`)
}

// TestCSVHoldsThePagesNumbers: each view's CSV has the stats answer's
// numbers, written as its JSON writes them.
func TestCSVHoldsThePagesNumbers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 800)
	c := newClient(t, f.dash)
	require.Equal(t, http.StatusSeeOther, c.signIn(readKey).status)
	q := "from=2026-10-05&to=2026-11-13&tz=Europe%2FKyiv"
	rows := func(view, query string) [][]string {
		r := c.get("/" + view + ".csv?" + query)
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Equal(t, "text/csv; charset=utf-8", r.header.Get("Content-Type"))
		assert.Contains(t, r.header.Get("Content-Disposition"), "attachment")
		out, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
		require.NoError(t, err)
		return out
	}
	var dau stats.DAUResult
	f.statsJSON(t, "stats-dau", q+"&interval=week", readKey, &dau)
	want := [][]string{{"start", "active_users"}}
	for _, p := range dau.Series {
		want = append(want, []string{p.Start, strconv.FormatInt(p.ActiveUsers, 10)})
	}
	assert.Equal(t, want, rows("dau", q+"&interval=week"))

	var top stats.TopResult
	f.statsJSON(t, "stats-top", q+"&prop.plan=pro", readKey, &top)
	want = [][]string{{"type", "count", "users"}}
	formulas := 0
	for _, e := range top.Events {
		typ := e.Type
		if typ == formulaType { // a spreadsheet must not run it
			typ = "'" + typ
			formulas++
		}
		want = append(want, []string{typ, strconv.FormatInt(e.Count, 10), strconv.FormatInt(e.Users, 10)})
	}
	require.Equal(t, 1, formulas, "the fixture's formula type is among the top events")
	assert.Equal(t, want, rows("top", q+"&prop.plan=pro"))

	var ret stats.RetentionResult
	f.statsJSON(t, "stats-retention", q+"&interval=day&periods=5", readKey, &ret)
	want = [][]string{{"start", "size", "period", "retained", "rate"}}
	for _, co := range ret.Cohorts {
		for k, n := range co.Retained {
			rate, _ := json.Marshal(co.Rates[k])
			want = append(want, []string{co.Start, strconv.FormatInt(co.Size, 10), strconv.Itoa(k), strconv.FormatInt(n, 10), string(rate)})
		}
	}
	assert.Equal(t, want, rows("retention", q+"&interval=day&periods=5"))

	r := c.get("/top.csv")
	assert.Equal(t, http.StatusBadRequest, r.status, "a CSV has no default range")
	assert.Contains(t, r.body, "from: required")
}
