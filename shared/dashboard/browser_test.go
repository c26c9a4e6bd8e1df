package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/gateway"
	"github.com/eventfn/eventfn/shared/stats"
	"github.com/eventfn/eventfn/shared/testenv"
)

// chromium returns the browser the test drives: EVENTFN_CHROMIUM, or
// Debian's chromium. It fails the test when there is none: `make test`
// installs it (scripts/services --for-tests), and a browser test that
// skips itself proves nothing.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("EVENTFN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium to drive: install Debian's chromium (`apt-get install -y chromium`; " +
		"`scripts/services --for-tests`, run by `make test` as root, does) or name a browser in EVENTFN_CHROMIUM")
	return ""
}

// stack is `make run` in a test: every function behind the gateway,
// configured through the environment, on a database, streams and key
// prefix of its own, with the fixture's events stored through shared/store.
type stack struct {
	base string // http://host:port
}

func newStack(t *testing.T) *stack {
	t.Helper()
	rcfg, _ := testenv.Redis(t)
	ncfg := testenv.NATS(t, testenv.NATSURL())
	db := testenv.Database(t)
	for k, v := range map[string]string{
		"DATABASE_URL": db, "REDIS_URL": testenv.RedisURL(), "REDIS_PREFIX": rcfg.RedisPrefix,
		"NATS_URL": ncfg.NATSURL, "NATS_STREAM": ncfg.Stream, "NATS_SUBJECT": ncfg.Subject, "NATS_CONSUMER": ncfg.Consumer,
		"NATS_DLQ_STREAM": ncfg.DLQStream, "NATS_DLQ_SUBJECT": ncfg.DLQSubject,
		"API_KEYS":           apiKeys + ",wk_empty_dash=empty:write",
		"AUTH_DISABLED":      "false",
		"CONSUME_CONTINUOUS": "true", "ARCHIVE_EVERY": "0", "ARCHIVE_URL": "file://" + t.TempDir(), "ADMIN_KEY": "",
		"ROLLUP_TIMEZONES": "UTC,Europe/Kyiv", "LOG_LEVEL": "warn",
	} {
		t.Setenv(k, v)
	}
	seed(t, db, seedEvents(4000))
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, gateway.Functions, slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("the gateway did not stop")
		}
	})
	s := &stack{base: "http://" + ln.Addr().String()}
	for _, fn := range []string{"dashboard", "stats-dau", "stats-top", "stats-retention", "ingest", "consume-batch"} {
		testenv.Eventually(t, 60*time.Second, func() bool {
			resp, err := http.Get(s.base + "/function/" + fn + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, "%s ready", fn)
	}
	return s
}

// api answers a stats query through the gateway with key.
func (s *stack) api(t *testing.T, fn string, vals url.Values, key string, into any) {
	t.Helper()
	code, msg := getJSON(t, s.base+"/function/"+fn+"/?"+vals.Encode(), key, into)
	require.Equal(t, http.StatusOK, code, "%s?%s: %s", fn, vals.Encode(), msg)
}

// tab is a browser tab on the stack's dashboard.
type tab struct {
	t        *testing.T
	ctx      context.Context
	dash     string // the dashboard's URL, ending in /
	shotsDir string
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...))
}

func run[T any](b *tab, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(b.t, err)
	return v
}

func (b *tab) location() string { return run(b, chromedp.Location()) }

// html is the document as the browser holds it now.
func (b *tab) html() string {
	return run(b, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
}

// open navigates to path, relative to the dashboard, and returns the page.
func (b *tab) open(path string) string {
	b.t.Helper()
	b.do(chromedp.Navigate(b.dash + path))
	return b.html()
}

// submit clicks sel and waits for the browser to land on another URL.
func (b *tab) submit(sel string) {
	b.t.Helper()
	before := b.location()
	_ = run(b, chromedp.Evaluate[bool](`window.__eventfnBefore = true`))
	b.do(chromedp.Click(chromedp.CSS(sel)))
	testenv.Eventually(b.t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		// A new document has no marker and has loaded.
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__eventfnBefore !== true && document.readyState === "complete"`))
		return err == nil && done
	}, "a new page after clicking %s on %s", sel, before)
}

// shot saves a PNG of the whole page under the screenshot directory.
func (b *tab) shot(name string) {
	b.t.Helper()
	png := run(b, chromedp.FullScreenshot(100))
	require.NoError(b.t, os.WriteFile(filepath.Join(b.shotsDir, name+".png"), png, 0o644))
}

// fill sets form controls by id, as a person typing would leave them.
func (b *tab) fill(values map[string]string) {
	b.t.Helper()
	for id, v := range values {
		js, _ := json.Marshal(v)
		got := run(b, chromedp.Evaluate[string](fmt.Sprintf(`(() => { const el = document.getElementById(%q); el.value = %s; return el.value; })()`, id, js)))
		require.Equal(b.t, v, got, "set %s", id)
	}
}

func (b *tab) signIn(key string) {
	b.t.Helper()
	b.open("")
	b.do(chromedp.SendKeys(chromedp.ID("key"), key))
	b.submit("form.signin-form button")
}

// TestInABrowser drives Debian's chromium through the dashboard of a
// running stack: sign in, the numbers of several queries equal the stats
// API's (time zones, intervals, filters; heatmap cells the retention
// rates), the URL round trip, sign-out, another project's data, a 375 px
// screen, and the first-run command sending a real first event.
// Screenshots go to .run/screenshots (git-ignored) or
// EVENTFN_SCREENSHOT_DIR.
func TestInABrowser(t *testing.T) {
	exe := chromium(t)
	s := newStack(t)
	shots := os.Getenv("EVENTFN_SCREENSHOT_DIR")
	if shots == "" {
		shots = filepath.Join("..", "..", ".run", "screenshots")
	}
	require.NoError(t, os.MkdirAll(shots, 0o755))

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium makes scratch directories of its own in TMPDIR and
		// leaves them behind when it is stopped.
		chromedp.Env("TMPDIR="+t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	b := &tab{t: t, ctx: ctx, dash: s.base + "/function/dashboard/", shotsDir: shots}
	// The first Run starts the browser: no timeout on it (chromedp.Run).
	_, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err, "start %s", exe)

	// Without a session, a view sends the browser to sign in.
	b.open("overview")
	assert.Equal(t, b.dash, b.location())
	b.shot("sign-in")

	b.signIn(readKey)
	loc := b.location()
	require.Equal(t, b.dash+"overview", loc, "signed in, at the overview")
	assert.Len(t, readNumbers(t, b.html()).dau, 30, "the last 30 days")
	project, _ := byID(t, b.html(), "project")
	assert.Equal(t, "shop", project)

	// The numbers on the page are the API's, for several queries.
	compare := func(view string, vals url.Values, key string) pageNumbers {
		t.Helper()
		page := b.open(view + "?" + vals.Encode())
		got := readNumbers(t, page)
		dauVals, topVals, retVals := vals, vals, vals
		if view == "overview" {
			topVals, retVals = url.Values{}, url.Values{}
			for k, v := range vals {
				if k != "interval" {
					topVals[k] = v
				}
				if k != "type" {
					retVals[k] = v
				}
			}
			if retVals.Get("interval") == "month" {
				retVals.Set("interval", "week")
			}
		}
		if view == "overview" || view == "dau" {
			var want stats.DAUResult
			s.api(t, "stats-dau", dauVals, key, &want)
			assert.Equal(t, want.Series, got.dau, "%s?%s: DAU", view, vals.Encode())
		}
		if view == "overview" || view == "top" {
			var want stats.TopResult
			s.api(t, "stats-top", topVals, key, &want)
			assert.Equal(t, want.Events, got.top, "%s?%s: top", view, vals.Encode())
		}
		if view == "overview" || view == "retention" {
			var want stats.RetentionResult
			s.api(t, "stats-retention", retVals, key, &want)
			assert.Equal(t, want.Cohorts, got.retention, "%s?%s: retention cells", view, vals.Encode())
		}
		return got
	}
	all := url.Values{"from": {"2026-10-05"}, "to": {"2026-11-13"}}
	with := func(extra url.Values) url.Values {
		out := url.Values{}
		for k, v := range all {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	got := compare("overview", all, readKey)
	assert.Len(t, got.dau, 40)
	assert.NotEmpty(t, got.top)
	b.shot("overview")
	compare("overview", with(url.Values{"tz": {"Europe/Kyiv"}, "interval": {"week"}, "type": {"page_view", scriptType}}), readKey)
	compare("overview", with(url.Values{"tz": {"America/New_York"}, "interval": {"month"}, "prop.plan": {"pro"}}), readKey)
	compare("dau", with(url.Values{"tz": {"America/New_York"}, "source": {"ios"}}), readKey)
	compare("top", with(url.Values{"tz": {"Europe/Kyiv"}, "limit": {"3"}, "prop.n": {"2"}}), readKey)
	compare("top", with(url.Values{"source": {imgSource}}), readKey)
	compare("retention", with(url.Values{"interval": {"day"}, "periods": {"10"}}), readKey)
	ret := compare("retention", with(url.Values{"tz": {"Europe/Kyiv"}, "start_type": {"page_view"}, "return_type": {"checkout"}, "periods": {"4"}}), readKey)
	assert.NotEmpty(t, ret.retention)
	b.open("retention?" + with(url.Values{"interval": {"day"}, "periods": {"14"}}).Encode())
	b.shot("retention")

	// A refused parameter: 400's page shows the stats message by its control.
	page := b.open("dau?" + with(url.Values{"tz": {"Mars/Olympus"}}).Encode())
	msg, ok := byID(t, page, "err-tz")
	assert.True(t, ok, "the message beside the time zone")
	assert.Contains(t, msg, "tz: ")

	// The form's query becomes the URL; the URL brings the view back, and
	// so does the back button.
	b.open("dau?" + all.Encode())
	b.fill(map[string]string{"in-tz": "Europe/Kyiv", "in-interval": "week", "in-prop": "plan=pro\nn=1", "in-source": ""})
	b.submit("form.query button")
	shared := b.location()
	u, err := url.Parse(shared)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"from": {"2026-10-05"}, "to": {"2026-11-13"}, "tz": {"Europe/Kyiv"}, "interval": {"week"}, "prop.plan": {"pro"}, "prop.n": {"1"}}, u.Query(),
		"the canonical query: empty fields dropped, properties as prop.KEY")
	before := readNumbers(t, b.html())
	compare("dau", u.Query(), readKey)
	b.open("top?" + all.Encode())
	_ = run(b, chromedp.Evaluate[bool](`window.__eventfnBefore = true`))
	_ = run(b, chromedp.Evaluate[bool](`history.back(), true`))
	testenv.Eventually(t, 30*time.Second, func() bool {
		done, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.__eventfnBefore !== true && document.readyState === "complete"`))
		return err == nil && done
	}, "back to %s", shared)
	assert.Equal(t, shared, b.location())
	assert.Equal(t, before, readNumbers(t, b.html()), "the back button restores the view")
	assert.Equal(t, "Europe/Kyiv", run(b, chromedp.Evaluate[string](`document.getElementById("in-tz").value`)))
	b.do(chromedp.Navigate("about:blank"), chromedp.Navigate(shared))
	assert.Equal(t, before, readNumbers(t, b.html()), "the URL restores the view")
	assert.Equal(t, "week", run(b, chromedp.Evaluate[string](`document.getElementById("in-interval").value`)))

	// Usable at 375 px: nothing wider than the screen but the tables,
	// which scroll in their own box.
	b.do(chromedp.EmulateViewport(375, 812))
	b.open("overview?" + all.Encode())
	wide := run(b, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	assert.LessOrEqual(t, wide, 375, "the page fits a 375 px screen")
	b.shot("overview-375px")
	b.do(chromedp.EmulateViewport(1280, 900))

	// Sign out: the session ends, views send the browser to sign in.
	b.open("overview?" + all.Encode())
	b.submit("#sign-out")
	assert.Equal(t, b.dash, b.location())
	b.open("overview?" + all.Encode())
	assert.Equal(t, b.dash, b.location(), "signed out")

	// Another project's key sees its own numbers only.
	b.signIn(otherReadKey)
	got = compare("overview", all, otherReadKey)
	require.NotEmpty(t, got.top)
	for _, e := range got.top {
		assert.True(t, strings.HasPrefix(e.Type, "other_"), "only project other's types: %s", e.Type)
	}
	page = b.html()
	assert.NotContains(t, page, `data-type="page_view"`, "shop's types never show")
	project, _ = byID(t, page, "project")
	assert.Equal(t, "other", project)
	b.submit("#sign-out")

	// A project without events shows a command that sends a first one,
	// built from the page's URL; run, it does.
	b.signIn(emptyReadKey)
	page = b.html()
	curl, ok := byID(t, page, "first-run")
	require.True(t, ok, "a first-run panel")
	b.shot("first-run")
	cmd := regexp.MustCompile(`(?s)curl .*\}'`).FindString(curl)
	require.NotEmpty(t, cmd, curl)
	assert.Contains(t, cmd, "'"+s.base+"/function/ingest/'", "ingest beside the dashboard")
	out, err := exec.Command("bash", "-c", strings.ReplaceAll(cmd, "YOUR_WRITE_KEY", "wk_empty_dash")+" -s").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "HTTP/1.1 202", "%s", out)
	today := time.Now().UTC().Format(time.DateOnly)
	testenv.Eventually(t, 60*time.Second, func() bool {
		got := readNumbers(t, b.open(fmt.Sprintf("overview?from=%s&to=%s", today, today)))
		return len(got.top) == 1 && got.top[0].Type == "page_view" && got.top[0].Count == 1
	}, "the first event on the overview")
	_, still := byID(t, b.html(), "first-run")
	assert.False(t, still, "no first-run panel once there are events")
}
