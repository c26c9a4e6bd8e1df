package gateway_test

import (
	"context"
	"log/slog"
	"net"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/gateway"
	"github.com/eventfn/eventfn/shared/ingest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/stats"
	"github.com/eventfn/eventfn/shared/testenv"
)

// TestEveryPrintedCurlWorks runs each command `make run` prints, verbatim,
// through a shell: the event is accepted, and each of the three stats
// functions (retention included) answers 200.
func TestEveryPrintedCurlWorks(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is needed to run the printed commands: %v", err)
	}
	rcfg, _ := testenv.Redis(t)
	ncfg := testenv.NATS(t, testenv.NATSURL())
	for k, v := range map[string]string{
		"DATABASE_URL":     testenv.Database(t),
		"REDIS_URL":        testenv.RedisURL(),
		"REDIS_PREFIX":     rcfg.RedisPrefix,
		"NATS_URL":         ncfg.NATSURL,
		"NATS_STREAM":      ncfg.Stream,
		"NATS_SUBJECT":     ncfg.Subject,
		"NATS_DLQ_STREAM":  ncfg.DLQStream,
		"NATS_DLQ_SUBJECT": ncfg.DLQSubject,
		"API_KEYS":         "wk_tour_local_dev=demo:write,rk_tour_local_dev=demo:read",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := gateway.New(ctx, []serve.Spec{ingest.Spec, stats.DAUSpec, stats.TopSpec, stats.RetentionSpec}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln, 5*time.Second) }()

	tour := gateway.Tour("http://" + ln.Addr().String())
	lines := regexp.MustCompile(`(?m)^\s*(curl .*)$`).FindAllStringSubmatch(tour, -1)
	require.Len(t, lines, 4, "one event and three stats: %s", tour)
	want := []string{"/function/ingest/", "/function/stats-dau/", "/function/stats-top/", "/function/stats-retention/"}
	for i, l := range lines {
		assert.Contains(t, l[1], want[i])
		// -w prints the status; -o discards the body of the stats answers.
		out, err := exec.Command("bash", "-c", l[1]+" -s -o /dev/null -w '%{http_code}'").CombinedOutput()
		require.NoError(t, err, "%s: %s", l[1], out)
		code := map[bool]string{true: "202", false: "200"}[i == 0]
		assert.Equal(t, code, string(out), "%s", l[1])
	}
	cancel()
	require.NoError(t, <-done)
}
