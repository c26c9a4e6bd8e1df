package stats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/openapitest"
	"github.com/eventfn/eventfn/shared/rollup"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/stats"
	"github.com/eventfn/eventfn/shared/store"
	"github.com/eventfn/eventfn/shared/testenv"
)

// Keys of the fixture.
const (
	readKey      = "rk_shop"
	writeKey     = "wk_shop"
	otherReadKey = "rk_other"
)

// genEvent is one generated event, as the brute force reads it.
type genEvent struct {
	project, source, id, typ, subject string
	t                                 time.Time
	contentType                       string
	data                              []byte
	// props is data decoded once for the brute force (numbers as
	// json.Number); nil when data is not a JSON object.
	props map[string]any
}

func (g genEvent) event() *event.Event {
	ce := cloudevents.New()
	ce.SetID(g.id)
	ce.SetSource(g.source)
	ce.SetType(g.typ)
	if g.subject != "" {
		ce.SetSubject(g.subject)
	}
	ce.SetTime(g.t)
	if g.data != nil {
		_ = ce.SetData(g.contentType, g.data)
	}
	return &event.Event{Project: g.project, CE: ce, ReceivedAt: g.t.Add(time.Second)}
}

// dataStart is the first day of the generated data: 60 days that hold the
// end of summer time in Kyiv (2026-10-25) and New York (2026-11-01).
var dataStart = time.Date(2026, 9, 20, 0, 0, 0, 0, time.UTC)

const dataDays = 60

var (
	types   = []string{"page_view", "search", "add_to_cart", "checkout", "com.shop.order.placed", "signup"}
	weights = []int{40, 17, 20, 10, 8, 5}
	// "ü app" is stored as the SDK spells it, "%C3%BC%20app".
	sources = []string{"web", "web", "ios", "android", "ü app"}
)

// generate returns the fixture's events: n random ones over the 60 days
// (skewed users and types, a tenth anonymous, properties of every JSON
// kind, some data that is not filterable), plus events one second either
// side of every local midnight in Kyiv and New York.
func generate(seed uint64, n int) []genEvent {
	r := rand.New(rand.NewPCG(seed, 11))
	pick := func() string {
		x := r.IntN(100)
		for i, w := range weights {
			if x < w {
				return types[i]
			}
			x -= w
		}
		return types[0]
	}
	var evs []genEvent
	add := func(project string, at time.Time) {
		g := genEvent{project: project, source: sources[r.IntN(len(sources))], id: fmt.Sprintf("e%d", len(evs)),
			typ: pick(), t: at.Truncate(time.Second), contentType: "application/json"}
		users := 300
		if project == "other" {
			users = 40
		}
		if r.IntN(10) > 0 {
			u := int(float64(users) * r.Float64() * r.Float64())
			g.subject = fmt.Sprintf("%s-user-%d", project, u)
		}
		switch x := r.IntN(100); {
		case x < 5:
		case x < 9:
			g.contentType, g.data = "text/plain", []byte("plan=pro")
		case x < 13:
			g.data = []byte(`{"meta": {"plan": "pro"}, "plan": null, "n": [3]}`)
		default:
			var nv string
			switch r.IntN(8) {
			case 0:
				nv = "3.0"
			case 1:
				nv = `"3"`
			case 2:
				nv = "30e-1"
			default:
				nv = fmt.Sprint(r.IntN(6))
			}
			g.data = fmt.Appendf(nil, `{"plan": %q, "n": %s, "vip": %t, "country": %q}`,
				[]string{"free", "pro", "team"}[r.IntN(3)], nv, r.IntN(4) == 0, []string{"ua", "us", "de"}[r.IntN(3)])
		}
		evs = append(evs, g)
	}
	for range n {
		project := "shop"
		if r.IntN(8) == 0 {
			project = "other"
		}
		add(project, dataStart.Add(time.Duration(r.Int64N(int64(dataDays*24*time.Hour)))))
	}
	defer func() {
		for i := range evs {
			evs[i].props = decodeProps(evs[i])
		}
	}()
	for _, zone := range []string{"Europe/Kyiv", "America/New_York"} {
		loc, _ := time.LoadLocation(zone)
		for d := 1; d < dataDays; d++ {
			y, m, dd := dataStart.AddDate(0, 0, d).Date()
			midnight := time.Date(y, m, dd, 0, 0, 0, 0, loc)
			add("shop", midnight.Add(-time.Second))
			add("shop", midnight)
		}
	}
	// Days whose midnight does not exist: America/Santiago springs forward
	// at 00:00 (2026-09-06 begins at 01:00), Pacific/Kiritimati skipped
	// 1994-12-31. Each instant is the last of a day or the first of one.
	for _, at := range []string{
		"2026-09-06T03:30:00Z", "2026-09-06T03:59:59Z", "2026-09-06T04:00:00Z",
		"1994-12-30T09:59:59Z", "1994-12-30T10:00:00Z", "1994-12-31T09:59:59Z", "1994-12-31T10:00:00Z",
	} {
		t, _ := time.Parse(time.RFC3339, at)
		add("shop", t)
	}
	return evs
}

// fixture is a database holding the generated events, written through
// store.InsertEvents, and the stats functions serving it.
type fixture struct {
	events []genEvent
	// urls[name] serves the function as configured; columns[name] the
	// same with the rollup path turned off.
	urls, columns map[string]string
	pool          *pgxpool.Pool
	// tail is true while the rollup feed holds events (the older half):
	// answers then add the feed's events to the rollups.
	tail bool
	// paths counts the paths the configured functions took, by function.
	paths map[string]map[string]int
}

// materialize moves the feed into the rollups, as consume-batch does.
func (f *fixture) materialize(t *testing.T) {
	t.Helper()
	rolluptest.Materialize(t, f.pool)
	f.tail = false
}

var functionNames = []string{"stats-dau", "stats-top", "stats-retention"}

// newFixture stores the events out of time order (the older half after
// the newer, so first events and cohorts move back), redelivers some and
// re-sends some identities with other times (both ignored). The newer half
// is materialized into the rollups, the older half stays in the feed (the
// tail) until f.materialize. The functions start between the halves, so
// Europe/Kyiv's rollups are built from the first half and then kept up by
// Apply.
func newFixture(t *testing.T, n int) *fixture { return newFixtureOrdered(t, n, false) }

// newFixtureOrdered is newFixture; inOrder stores the older half first, so
// that the tail (the newer half, in the feed) holds no user's first event
// before the one the rollups know: the order traffic mostly comes in.
func newFixtureOrdered(t *testing.T, n int, inOrder bool) *fixture {
	t.Helper()
	return newFixtureStaged(t, n, inOrder, 1, nil)
}

// newFixtureStaged is newFixtureOrdered storing the second half in stages
// parts, calling each after every part with f.events holding the events
// stored so far: the feed grows while the rollups stand still.
func newFixtureStaged(t *testing.T, n int, inOrder bool, stages int, each func(f *fixture)) *fixture {
	t.Helper()
	ctx := context.Background()
	url, pool := migratedDatabase(t, 4)
	s := store.New(pool)

	evs := generate(42, n)
	r := rand.New(rand.NewPCG(5, 5))
	mid := dataStart.AddDate(0, 0, dataDays/2)
	var newer, older []genEvent
	for _, e := range evs {
		if e.t.Before(mid) {
			older = append(older, e)
		} else {
			newer = append(newer, e)
		}
	}
	insert := func(list []genEvent) {
		r.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
		for off := 0; off < len(list); {
			end := min(off+1+r.IntN(400), len(list))
			batch := make([]*event.Event, 0, end-off)
			for _, e := range list[off:end] {
				batch = append(batch, e.event())
			}
			_, err := s.InsertEvents(ctx, batch)
			require.NoError(t, err)
			off = end
		}
	}
	first, second := newer, older
	if inOrder {
		first, second = older, newer
	}
	insert(first)
	rolluptest.Materialize(t, pool)

	cfg := stats.Config{
		Server:          config.Server{Port: 8080, LogLevel: "info", ShutdownTimeout: time.Second},
		Postgres:        config.Postgres{DatabaseURL: url, DatabaseMaxConns: 4},
		Auth:            config.Auth{APIKeys: readKey + "=shop:read," + writeKey + "=shop:write," + otherReadKey + "=other:read"},
		MaxRangeDays:    400,
		QueryTimeout:    30 * time.Second,
		RollupTimezones: "UTC, Europe/Kyiv",
	}
	require.NoError(t, cfg.Validate())
	f := &fixture{events: evs, urls: map[string]string{}, columns: map[string]string{}, pool: pool, tail: true, paths: map[string]map[string]int{}}
	for _, spec := range []serve.Spec{stats.DAUSpec, stats.TopSpec, stats.RetentionSpec} {
		f.urls[spec.Name()] = serveFunction(t, spec.Name(), func(deps serve.Deps) (*serve.Function, error) {
			switch spec.Name() {
			case "stats-dau":
				return stats.NewDAU(ctx, cfg, deps)
			case "stats-top":
				return stats.NewTop(ctx, cfg, deps)
			}
			return stats.NewRetention(ctx, cfg, deps)
		})
		f.columns[spec.Name()] = serveFunction(t, spec.Name(), func(deps serve.Deps) (*serve.Function, error) {
			return stats.NewColumnsOnly(ctx, spec.Name(), cfg, deps)
		})
	}

	// Merge the chunks written so far, so that merged and small chunks mix.
	_, err := rollup.Compact(ctx, pool, rollup.DateDay(2027, 1, 1))
	require.NoError(t, err)
	stored := slices.Clone(first)
	for i := range stages {
		part := second[i*len(second)/stages : (i+1)*len(second)/stages]
		insert(part)
		stored = append(stored, part...)
		if each != nil {
			f.events = stored
			each(f)
		}
	}
	f.events = evs
	var again []*event.Event
	for i, e := range evs {
		switch {
		case i%10 == 0:
			again = append(again, e.event())
		case i%97 == 0:
			moved := e
			moved.t = moved.t.AddDate(0, 0, -20)
			again = append(again, moved.event())
		}
	}
	res, err := s.InsertEvents(ctx, again)
	require.NoError(t, err)
	require.Zero(t, res.Inserted, "redelivered and re-sent identities are stored once")
	return f
}

// migratedDatabase returns a database of the test's own, migrated, with a
// pool of conns connections on it.
func migratedDatabase(t *testing.T, conns int32) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	url := testenv.Database(t)
	pool, err := store.Open(ctx, config.Postgres{DatabaseURL: url, DatabaseMaxConns: conns})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, store.Migrate(ctx, pool))
	return url, pool
}

// utcConfig is a stats configuration over url with rollups in UTC only
// and readKey reading project shop.
func utcConfig(t testing.TB, url string) stats.Config {
	t.Helper()
	cfg := stats.Config{
		Server:          config.Server{Port: 8080, LogLevel: "info", ShutdownTimeout: time.Second},
		Postgres:        config.Postgres{DatabaseURL: url, DatabaseMaxConns: 2},
		Auth:            config.Auth{APIKeys: readKey + "=shop:read"},
		MaxRangeDays:    400,
		QueryTimeout:    30 * time.Second,
		RollupTimezones: "UTC",
	}
	require.NoError(t, cfg.Validate())
	return cfg
}

// serveStats serves stats-dau, stats-top and stats-retention on cfg and
// returns their URLs by name.
func serveStats(t testing.TB, cfg stats.Config) map[string]string {
	t.Helper()
	urls := map[string]string{}
	for name, build := range map[string]func(context.Context, stats.Config, serve.Deps) (*serve.Function, error){
		"stats-dau": stats.NewDAU, "stats-top": stats.NewTop, "stats-retention": stats.NewRetention,
	} {
		urls[name] = serveFunction(t, name, func(deps serve.Deps) (*serve.Function, error) { return build(context.Background(), cfg, deps) })
	}
	return urls
}

func serveFunction(t testing.TB, name string, build func(serve.Deps) (*serve.Function, error)) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	fn, err := build(serve.Deps{Logger: log, Registerer: reg})
	require.NoError(t, err)
	fn.Name = name
	srv := httptest.NewServer(serve.NewServer(fn, log, reg, reg))
	t.Cleanup(func() {
		srv.Close()
		fn.Close()
	})
	// Benchmarks time the functions, not the document's checks.
	if _, bench := t.(*testing.B); !bench {
		openapitest.Register(t, srv.URL)
	}
	return srv.URL
}

// answer is a response as a client sees it.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func get(t testing.TB, url, key string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := openapitest.ClientFor(t, url).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s", body)
	require.True(t, json.Valid(body), "%s", body)
	return answer{status: resp.StatusCode, header: resp.Header, body: body}
}
