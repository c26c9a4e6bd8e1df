package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/benchdata"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/dashboard"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/stats"
)

// BenchmarkOverview measures the overview page of a 90-day range over
// the stats bench's data set (package benchdata: EVENTFN_BENCH_STATS_EVENTS
// events, default 10M; EVENTFN_BENCH_STATS_DATABASE_URL keeps it between
// runs) beside the three stats calls it makes, each over HTTP on loopback,
// p50 and p95 of EVENTFN_BENCH_DASHBOARD_ITERATIONS (default 20) each, and
// the page's own work (charts, tables, HTML from answers already in). The
// page must add less than 20 % to the sum of the three calls.
//
//	EVENTFN_BENCH_STATS_EVENTS=1000000 go test -run '^$' -bench BenchmarkOverview -benchtime 1x -timeout 60m ./shared/dashboard/
func BenchmarkOverview(b *testing.B) {
	ctx := context.Background()
	iters := benchdata.EnvInt("EVENTFN_BENCH_DASHBOARD_ITERATIONS", 20)
	url, _ := benchdata.Database(b)
	const key = "rk_bench_dash"
	pg := config.Postgres{DatabaseURL: url, DatabaseMaxConns: 8}
	srv := config.Server{Port: 8080, LogLevel: "info", ShutdownTimeout: time.Second}
	keys := config.Auth{APIKeys: key + "=" + benchdata.Project + ":read"}
	scfg := stats.Config{Server: srv, Postgres: pg, Auth: keys, MaxRangeDays: 400, QueryTimeout: 5 * time.Minute, RollupTimezones: "UTC"}
	urls := map[string]string{}
	for name, build := range map[string]func(context.Context, stats.Config, serve.Deps) (*serve.Function, error){
		"stats-dau": stats.NewDAU, "stats-top": stats.NewTop, "stats-retention": stats.NewRetention,
	} {
		urls[name] = serveFunction(b, name, func(deps serve.Deps) (*serve.Function, error) { return build(ctx, scfg, deps) })
	}
	dcfg := dashboard.Config{Server: srv, Postgres: pg, Auth: keys, MaxRangeDays: 400, QueryTimeout: 5 * time.Minute, SessionTTL: time.Hour}
	reg := prometheus.NewRegistry()
	fn, err := dashboard.New(ctx, dcfg, serve.Deps{Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	require.NoError(b, err)
	hs := httptest.NewServer(serve.NewServer(fn, slog.New(slog.DiscardHandler), reg, reg))
	b.Cleanup(func() { hs.Close(); fn.Close() })
	c := newClient(b, hs.URL)
	require.Equal(b, http.StatusSeeOther, c.do(http.MethodPost, "/", map[string][]string{"key": {key}}, nil).status)

	// 90 days holding the 60 of the data.
	from := benchdata.Start.AddDate(0, 0, -15)
	query := fmt.Sprintf("from=%s&to=%s", from.Format(time.DateOnly), from.AddDate(0, 0, 89).Format(time.DateOnly))
	retQuery := query // interval week, periods 8: what overview asks
	call := func(fn string, q string) time.Duration {
		req, err := http.NewRequest(http.MethodGet, urls[fn]+"/?"+q, nil)
		require.NoError(b, err)
		req.Header.Set("Authorization", "Bearer "+key)
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		require.Equal(b, http.StatusOK, resp.StatusCode)
		return d
	}
	page := func() time.Duration {
		t0 := time.Now()
		r := c.get("/overview?" + query)
		d := time.Since(t0)
		require.Equal(b, http.StatusOK, r.status)
		return d
	}
	cost, err := dashboard.PageCost(ctx, fn, benchdata.Project, query)
	require.NoError(b, err)
	render := func() time.Duration {
		t0 := time.Now()
		require.NoError(b, cost(io.Discard))
		return time.Since(t0)
	}
	// Warm every path once (connections, plans, the stats functions' set-up).
	call("stats-dau", query)
	call("stats-top", query)
	call("stats-retention", retQuery)
	page()
	b.ResetTimer()
	var dau, top, ret, over, own []time.Duration
	for range iters {
		dau = append(dau, call("stats-dau", query))
		top = append(top, call("stats-top", query))
		ret = append(ret, call("stats-retention", retQuery))
		over = append(over, page())
		own = append(own, render())
	}
	b.StopTimer()
	p := func(ds []time.Duration, q int) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[max(int(math.Ceil(float64(q)/100*float64(len(s))))-1, 0)]) / float64(time.Millisecond)
	}
	sum50 := p(dau, 50) + p(top, 50) + p(ret, 50)
	sum95 := p(dau, 95) + p(top, 95) + p(ret, 95)
	fmt.Printf("\ndashboard overview, %s (90 days), p50/p95 of %d\n", query, iters)
	for _, row := range []struct {
		name string
		ds   []time.Duration
	}{{"stats-dau", dau}, {"stats-top", top}, {"stats-retention", ret}} {
		fmt.Printf("DASHBOARD %-34s p50 %8.1f ms  p95 %8.1f ms\n", row.name, p(row.ds, 50), p(row.ds, 95))
	}
	fmt.Printf("DASHBOARD %-34s p50 %8.1f ms  p95 %8.1f ms\n", "sum of the three stats calls", sum50, sum95)
	fmt.Printf("DASHBOARD %-34s p50 %8.1f ms  p95 %8.1f ms | %+.1f %% of the sum (p50)\n", "overview page (queries run at once)", p(over, 50), p(over, 95), 100*(p(over, 50)-sum50)/sum50)
	fmt.Printf("DASHBOARD %-34s p50 %8.2f ms  p95 %8.2f ms | %.1f %% of the sum (p50)\n", "the page's own work (render)", p(own, 50), p(own, 95), 100*p(own, 50)/sum50)
	b.ReportMetric(p(over, 50), "overview/p50_ms")
	b.ReportMetric(sum50, "stats_sum/p50_ms")
	b.ReportMetric(p(own, 50), "render/p50_ms")
}
