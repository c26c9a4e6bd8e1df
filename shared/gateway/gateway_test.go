package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/gateway"
	"github.com/eventfn/eventfn/shared/ingest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/testenv"
)

// TestGatewayServesFunctionsAndThePrintedCurlWorks boots the gateway as
// `make run` does and runs the curl it prints, verbatim, through a shell.
func TestGatewayServesFunctionsAndThePrintedCurlWorks(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is needed to run the printed command: %v", err)
	}
	rcfg, _ := testenv.Redis(t)
	ncfg := testenv.NATS(t, testenv.NATSURL())
	t.Setenv("API_KEYS", "wk_gw_local_dev=demo:write,rk_gw_local_dev=demo:read")
	t.Setenv("REDIS_PREFIX", rcfg.RedisPrefix)
	t.Setenv("NATS_STREAM", ncfg.Stream)
	t.Setenv("NATS_SUBJECT", ncfg.Subject)
	t.Setenv("NATS_DLQ_STREAM", ncfg.DLQStream)
	t.Setenv("NATS_DLQ_SUBJECT", ncfg.DLQSubject)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := gateway.New(ctx, []serve.Spec{ingest.Spec}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln, 5*time.Second) }()
	base := "http://" + ln.Addr().String()

	tour := gateway.Tour(base)
	line := regexp.MustCompile(`(?m)^\s*(curl -i -X POST .*)$`).FindStringSubmatch(tour)
	require.Len(t, line, 2, "tour: %s", tour)
	out, err := exec.Command("bash", "-c", line[1]+" -s").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "HTTP/1.1 202")
	assert.Contains(t, string(out), `"accepted":1`)
	assert.Contains(t, tour, "rk_gw_local_dev", "the stats commands use the read key")
	assert.Contains(t, tour, base+"/function/dashboard/ (sign in with rk_gw_local_dev)")

	// Keys not made for local development are secrets: not printed.
	t.Setenv("API_KEYS", "wk_secret=demo:write,rk_secret=demo:read")
	tour = gateway.Tour(base)
	assert.NotContains(t, tour, "_secret")
	assert.Contains(t, tour, "Bearer <write key>")
	assert.Contains(t, tour, "Bearer <read key>")

	status := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := status("/function/nope/")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, "ingest", "the answer lists the functions there are")
	code, body = status("/function/ingest/readyz")
	assert.Equal(t, http.StatusOK, code, body)
	code, body = status("/function/ingest/openapi.json")
	require.Equal(t, http.StatusOK, code)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	code, body = status("/function/ingest/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.True(t, strings.Contains(body, "eventfn_ingest_events_total"), "each function's own metrics")

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "a signal stops the gateway cleanly")
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not stop")
	}
}

func TestGatewayConfigErrorNamesTheVariable(t *testing.T) {
	t.Setenv("DEDUP_WINDOW", "later")
	_, err := gateway.New(context.Background(), []serve.Spec{ingest.Spec}, slog.New(slog.DiscardHandler))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DEDUP_WINDOW")
}
