package consume

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/stats"
)

// statsAnswers asks the real stats functions of the database at
// databaseURL a fixed set of questions for each project and returns the
// answers by question. Two databases that hold the same events must give
// the same answers, however the rollups' internal ids were assigned (they
// depend on the order batches committed in).
func statsAnswers(t *testing.T, databaseURL string, projects []string, to time.Time) map[string]string {
	t.Helper()
	ctx := context.Background()
	var cfg stats.Config
	require.NoError(t, config.Load(&cfg))
	cfg.DatabaseURL = databaseURL
	cfg.Auth = config.Auth{}
	for _, p := range projects {
		cfg.APIKeys += "rk_" + p + "=" + p + ":read,"
	}
	deps := serve.Deps{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()}
	from := to.AddDate(0, 0, -70).Format(time.DateOnly)
	until := to.Format(time.DateOnly)
	questions := map[string]string{
		"dau day":             "interval=day",
		"dau week":            "interval=week",
		"dau month new york":  "interval=month&tz=America/New_York",
		"top":                 "limit=1000",
		"top one type":        "type=type_3&limit=1000",
		"retention week":      "interval=week&periods=12",
		"retention day kyiv":  "interval=day&periods=10&tz=Europe/Kyiv",
		"dau day one type":    "interval=day&type=type_5",
		"retention by return": "interval=week&periods=4&return_type=type_1",
	}
	answers := map[string]string{}
	for _, spec := range []struct {
		name  string
		build func(context.Context, stats.Config, serve.Deps) (*serve.Function, error)
	}{{"dau", stats.NewDAU}, {"top", stats.NewTop}, {"retention", stats.NewRetention}} {
		deps.Registerer = prometheus.NewRegistry()
		fn, err := spec.build(ctx, cfg, deps)
		require.NoError(t, err)
		for q, params := range questions {
			if !strings.HasPrefix(q, spec.name+" ") {
				continue
			}
			for _, p := range projects {
				h := http.Header{}
				h.Set("Authorization", "Bearer rk_"+p)
				qs := "from=" + url.QueryEscape(from) + "&to=" + url.QueryEscape(until) + "&" + params
				req := handler.Request{Method: http.MethodGet, QueryString: qs, Header: h}
				req.WithContext(ctx)
				resp, err := fn.Handle(req)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", p, q, resp.Body)
				answers[p+" "+q] = string(resp.Body)
			}
		}
		if fn.Close != nil {
			fn.Close()
		}
	}
	return answers
}
