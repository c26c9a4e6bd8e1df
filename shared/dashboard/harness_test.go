package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/dashboard"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/openapitest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/stats"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// Keys of the fixture: project shop has events, other has others, empty
// has none.
const (
	readKey      = "rk_shop_dash"
	writeKey     = "wk_shop_dash"
	otherReadKey = "rk_other_dash"
	emptyReadKey = "rk_empty_dash"
	apiKeys      = readKey + "=shop:read," + writeKey + "=shop:write," + otherReadKey + "=other:read," + emptyReadKey + "=empty:read"
)

// Hostile texts: event types, sources and property values that would be
// markup if a page did not escape them, or a formula in a spreadsheet
// opening a CSV.
const (
	scriptType  = `<script>alert("type")</script>`
	formulaType = `=HYPERLINK("https://example.com/x","open")`
	imgSource   = `"><img src=x onerror=alert(1)>`
	imgValue    = `"><img src=x onerror=alert(2)>`
)

// dataStart is the first day of the fixture's events: 40 days that hold
// the end of summer time in Kyiv (2026-10-25) and New York (2026-11-01).
var dataStart = time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC)

const dataDays = 40

// seedEvents returns the fixture's events: n random ones for shop (seven
// in eight) and other, with skewed users and types, the hostile texts
// among types, sources and property values, and a plan property.
func seedEvents(n int) []*event.Event {
	r := rand.New(rand.NewPCG(7, 13))
	types := []string{"page_view", "page_view", "page_view", "search", "add_to_cart", "checkout", scriptType, formulaType, "com.shop.order.placed"}
	sources := []string{"web", "web", "ios", imgSource}
	plans := []string{"free", "pro", "team", imgValue}
	evs := make([]*event.Event, 0, n)
	for i := range n {
		project, users := "shop", 200
		if r.IntN(8) == 0 {
			project, users = "other", 30
		}
		ce := cloudevents.New()
		ce.SetID(fmt.Sprintf("e%d", i))
		ce.SetSource(sources[r.IntN(len(sources))])
		ce.SetType(types[r.IntN(len(types))])
		if project == "other" {
			ce.SetType("other_" + ce.Type())
		}
		if r.IntN(10) > 0 {
			ce.SetSubject(fmt.Sprintf("%s-user-%d", project, int(float64(users)*r.Float64()*r.Float64())))
		}
		at := dataStart.Add(time.Duration(r.Int64N(int64(dataDays * 24 * time.Hour)))).Truncate(time.Second)
		ce.SetTime(at)
		_ = ce.SetData("application/json", fmt.Appendf(nil, `{"plan": %q, "n": %d}`, plans[r.IntN(len(plans))], r.IntN(4)))
		evs = append(evs, &event.Event{Project: project, CE: ce, ReceivedAt: at.Add(time.Second)})
	}
	return evs
}

// seed stores evs through shared/store, as consume-batch does.
func seed(t testing.TB, databaseURL string, evs []*event.Event) {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: databaseURL, DatabaseMaxConns: 2})
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, store.Migrate(ctx, pool))
	s := store.New(pool)
	for off := 0; off < len(evs); off += 500 {
		_, err := s.InsertEvents(ctx, evs[off:min(off+500, len(evs))])
		require.NoError(t, err)
	}
}

// fixture is a database with the seeded events, the dashboard serving it
// at dash (no gateway: links relative to the page) and the stats functions
// at stats[name].
type fixture struct {
	dash  string
	stats map[string]string
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	url := testenv.Database(t)
	seed(t, url, seedEvents(n))
	pg := config.Postgres{DatabaseURL: url, DatabaseMaxConns: 4}
	srv := config.Server{Port: 8080, LogLevel: "info", ShutdownTimeout: time.Second}
	keys := config.Auth{APIKeys: apiKeys}
	f := &fixture{stats: map[string]string{}}
	dcfg := dashboard.Config{Server: srv, Postgres: pg, Auth: keys, MaxRangeDays: 400, QueryTimeout: 30 * time.Second, SessionTTL: time.Hour}
	require.NoError(t, dcfg.Validate())
	f.dash = serveFunction(t, "dashboard", func(deps serve.Deps) (*serve.Function, error) { return dashboard.New(ctx, dcfg, deps) })
	scfg := stats.Config{Server: srv, Postgres: pg, Auth: keys, MaxRangeDays: 400, QueryTimeout: 30 * time.Second, RollupTimezones: "UTC"}
	for name, build := range map[string]func(context.Context, stats.Config, serve.Deps) (*serve.Function, error){
		"stats-dau": stats.NewDAU, "stats-top": stats.NewTop, "stats-retention": stats.NewRetention,
	} {
		f.stats[name] = serveFunction(t, name, func(deps serve.Deps) (*serve.Function, error) { return build(ctx, scfg, deps) })
	}
	return f
}

func serveFunction(t testing.TB, name string, build func(serve.Deps) (*serve.Function, error)) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fn, err := build(serve.Deps{Logger: log, Registerer: reg})
	require.NoError(t, err)
	fn.Name = name
	srv := httptest.NewServer(serve.NewServer(fn, log, reg, reg))
	t.Cleanup(func() {
		srv.Close()
		fn.Close()
	})
	return srv.URL
}

// tlog writes a function's warnings and errors into the test's log.
type tlog struct{ t testing.TB }

func (w tlog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// statsJSON answers a stats function's query with the read key.
func (f *fixture) statsJSON(t testing.TB, fn, query, key string, into any) (int, string) {
	t.Helper()
	return getJSON(t, f.stats[fn]+"/?"+query, key, into)
}

// getJSON GETs u with key as the bearer, decodes a 200's body into into
// (unless nil) and returns the status and, for an error, its message.
func getJSON(t testing.TB, u, key string, into any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode == http.StatusOK && into != nil {
		require.NoError(t, json.Unmarshal(body, into))
	}
	var e serve.ErrorBody
	_ = json.Unmarshal(body, &e)
	return resp.StatusCode, e.Error
}

// client is a browser without a browser: a cookie jar, no redirects
// followed, and headers a browser would send when asked.
type client struct {
	t    testing.TB
	base string
	http *http.Client
}

func newClient(t testing.TB, base string) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	// Every exchange of a test is checked against the function's OpenAPI
	// document, so that the tests also prove the document true;
	// benchmarks time the function alone.
	var rt http.RoundTripper
	if _, bench := t.(*testing.B); !bench {
		rt = openapitest.Fetch(t, base+"/openapi.json").Transport(t, nil)
	}
	return &client{t: t, base: base, http: &http.Client{Transport: rt, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(method, path string, form url.Values, header map[string]string) reply {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	require.NoError(c.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (c *client) get(path string) reply { return c.do(http.MethodGet, path, nil, nil) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the page's POST form.
func csrf(t testing.TB, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	require.Len(t, m, 2, "no CSRF token in the page")
	return m[1]
}

// signIn signs c in with key as a browser does: the form's token with it,
// and Origin set.
func (c *client) signIn(key string) reply {
	c.t.Helper()
	form := c.get("/")
	require.Equal(c.t, http.StatusOK, form.status)
	return c.do(http.MethodPost, "/", url.Values{"key": {key}, "csrf": {csrf(c.t, form.body)}}, map[string]string{"Origin": c.base})
}
