package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/gateway"
	"github.com/eventfn/eventfn/shared/openapitest"
	"github.com/eventfn/eventfn/shared/testenv"
)

// TestGatewayRunsThePipelineEndToEnd is `make run` in a test: all seven
// functions behind the gateway, configured only through the environment,
// on their own database, streams and key prefix. Events go in through
// every ingest mode, the continuous consumer stores them, the stats
// functions answer exactly, and archiving the old day changes no answer.
func TestGatewayRunsThePipelineEndToEnd(t *testing.T) {
	archiveDir := setFunctionEnv(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := gateway.New(ctx, gateway.Functions, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln, 5*time.Second) }()
	base := "http://" + ln.Addr().String()
	fn := base + "/function/"
	// Every exchange below is checked against the whole API's document, as
	// the gateway serves it.
	client := openapitest.Fetch(t, base+"/openapi.json").Client(t)

	call := func(method, path, key string, header map[string]string, body string) (int, map[string]any, string) {
		t.Helper()
		req, err := http.NewRequest(method, fn+path, strings.NewReader(body))
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(raw, &doc), "%s %s: %s", method, path, raw)
		return resp.StatusCode, doc, string(raw)
	}
	for _, name := range []string{"ingest", "consume-batch", "stats-dau", "stats-top", "stats-retention", "archive", "dashboard"} {
		testenv.Eventually(t, 30*time.Second, func() bool {
			code, _, _ := call(http.MethodGet, name+"/readyz", "", nil, "")
			return code == http.StatusOK
		}, "%s ready", name)
	}

	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	old := today.AddDate(0, 0, -60) // late, and older than HOT_DAYS
	at := func(day time.Time, hour int) string {
		return day.Add(time.Duration(hour) * time.Hour).Format(time.RFC3339)
	}
	day := func(d time.Time) string { return d.Format(time.DateOnly) }
	ingest := func(header map[string]string, body string, accepted, duplicates float64) {
		t.Helper()
		code, doc, raw := call(http.MethodPost, "ingest/", "wk_e2e", header, body)
		require.Equal(t, http.StatusAccepted, code, raw)
		assert.Equal(t, accepted, doc["accepted"], raw)
		assert.Equal(t, duplicates, doc["duplicates"], raw)
	}
	ingest(map[string]string{"Content-Type": "application/cloudevents+json"},
		fmt.Sprintf(`{"specversion":"1.0","id":"s1","source":"/web","type":"signup","subject":"alice","time":%q,"data":{"plan":"pro"}}`, at(old, 12)), 1, 0)
	ingest(map[string]string{"Content-Type": "application/cloudevents-batch+json"}, fmt.Sprintf(`[
		{"specversion":"1.0","id":"b1","source":"/web","type":"page_view","subject":"alice","time":%q,"data":{"plan":"pro"}},
		{"specversion":"1.0","id":"b2","source":"/web","type":"page_view","subject":"bob","time":%q,"data":{"plan":"free"}},
		{"specversion":"1.0","id":"b3","source":"/web","type":"page_view","time":%q},
		{"specversion":"1.0","id":"s1","source":"/web","type":"signup","subject":"alice","time":%q}]`,
		at(today, 0), at(today, 0), at(today, 0), at(today, 0)), 3, 1)
	ingest(map[string]string{"ce-specversion": "1.0", "ce-id": "p1", "ce-source": "/ios", "ce-type": "purchase",
		"ce-subject": "bob", "ce-time": at(today, 0), "Content-Type": "application/json"}, `{"plan":"pro"}`, 1, 0)
	ingest(map[string]string{"Content-Type": "application/json"},
		fmt.Sprintf(`{"events":[{"event_id":"j1","event_type":"page_view","user_id":"carol","timestamp":%q,"properties":{"plan":"free"}}]}`, at(old, 13)), 1, 0)

	get := func(path string, q url.Values) (map[string]any, string) {
		t.Helper()
		q.Set("from", day(old))
		q.Set("to", day(today))
		code, doc, raw := call(http.MethodGet, path+"/?"+q.Encode(), "rk_e2e", nil, "")
		require.Equal(t, http.StatusOK, code, raw)
		return doc, raw
	}
	// Accepted events reach the stats through the continuous consumer,
	// with nobody calling consume-batch.
	testenv.Eventually(t, 30*time.Second, func() bool {
		doc, _ := get("stats-top", url.Values{})
		stored := 0.0
		for _, e := range doc["events"].([]any) {
			stored += e.(map[string]any)["count"].(float64)
		}
		return stored == 6
	}, "six events stored")

	_, top := get("stats-top", url.Values{})
	assert.JSONEq(t, `{"events":[{"type":"page_view","count":4,"users":3},{"type":"purchase","count":1,"users":1},{"type":"signup","count":1,"users":1}]}`, top)
	_, topPro := get("stats-top", url.Values{"prop.plan": {"pro"}})
	assert.JSONEq(t, `{"events":[{"type":"page_view","count":1,"users":1},{"type":"purchase","count":1,"users":1},{"type":"signup","count":1,"users":1}]}`, topPro)
	_, topIOS := get("stats-top", url.Values{"source": {"/ios"}})
	assert.JSONEq(t, `{"events":[{"type":"purchase","count":1,"users":1}]}`, topIOS)

	dau, dauRaw := get("stats-dau", url.Values{})
	series := dau["series"].([]any)
	require.Len(t, series, 61)
	for i, s := range series {
		want := 0.0
		if i == 0 || i == 60 {
			want = 2 // carol and alice 60 days ago; alice and bob today
		}
		assert.Equal(t, want, s.(map[string]any)["active_users"], "day %d", i)
	}

	ret, retRaw := get("stats-retention", url.Values{"interval": {"week"}, "periods": {"12"}})
	monday := func(d time.Time) time.Time { return d.AddDate(0, 0, -(int(d.Weekday())+6)%7) }
	k := int(monday(today).Sub(monday(old)).Hours() / (24 * 7))
	cohorts := ret["cohorts"].([]any)
	require.Len(t, cohorts, k+1)
	first := cohorts[0].(map[string]any)
	assert.Equal(t, day(monday(old)), first["start"])
	assert.Equal(t, 2.0, first["size"], "alice and carol")
	retained := make([]any, k+1)
	for i := range retained {
		retained[i] = 0.0
	}
	retained[0], retained[k] = 2.0, 1.0 // alice came back this week
	assert.Equal(t, retained, first["retained"])
	last := cohorts[k].(map[string]any)
	assert.Equal(t, 1.0, last["size"], "bob")

	// Another project's read key sees nothing of this one.
	code, _, other := call(http.MethodGet, "stats-top/?from="+day(old)+"&to="+day(today), "rk_other", nil, "")
	require.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"events":[]}`, other)

	code, drained, raw := call(http.MethodPost, "consume-batch/", "", nil, "")
	require.Equal(t, http.StatusOK, code, raw)
	for _, key := range []string{"consumed", "inserted", "duplicates", "dead_lettered", "pending"} {
		assert.Contains(t, drained, key)
	}

	code, archived, raw := call(http.MethodPost, "archive/", "", nil, "")
	require.Equal(t, http.StatusOK, code, raw)
	assert.Equal(t, []any{day(old)}, archived["days"], raw)
	assert.Equal(t, 2.0, archived["rows"], raw)
	files, err := filepath.Glob(filepath.Join(archiveDir, "project=shop", "date="+day(old), "*.parquet"))
	require.NoError(t, err)
	assert.Len(t, files, 1)
	if len(files) == 1 {
		st, err := os.Stat(files[0])
		require.NoError(t, err)
		assert.Positive(t, st.Size())
	}

	// Archived days answer as they did.
	_, after := get("stats-top", url.Values{})
	assert.JSONEq(t, top, after)
	_, after = get("stats-top", url.Values{"prop.plan": {"pro"}})
	assert.JSONEq(t, topPro, after)
	_, after = get("stats-dau", url.Values{})
	assert.JSONEq(t, dauRaw, after)
	_, after = get("stats-retention", url.Values{"interval": {"week"}, "periods": {"12"}})
	assert.JSONEq(t, retRaw, after)

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "the gateway stops cleanly")
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not stop")
	}
}
