package serve_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/serve"
)

const ownDoc = `{"openapi": "3.1.0", "info": {"title": "f", "version": "1"},
  "security": [{"bearer": []}],
  "paths": {"/": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/healthz": {"get": {"summary": "the function's own", "responses": {"200": {"description": "ok"}}}}},
  "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
  "x-bound": 1.0}`

// TestDocumentsDescribeTheStandardEndpoints: /openapi.json serves the
// function's document with what every function serves added, needing no
// key; what the function describes itself is kept, numbers as written.
func TestDocumentsDescribeTheStandardEndpoints(t *testing.T) {
	fn := &serve.Function{Name: "f", OpenAPI: []byte(ownDoc)}
	reg := prometheus.NewRegistry()
	srv := serve.NewServer(fn, slog.New(slog.DiscardHandler), reg, reg)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, srv.OpenAPI(), rec.Body.Bytes())
	assert.Contains(t, rec.Body.String(), `"x-bound": 1.0`)

	var doc struct {
		Paths map[string]map[string]struct {
			Summary   string           `json:"summary"`
			Security  []map[string]any `json:"security"`
			Responses map[string]any   `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	for _, p := range []string{"/", "/healthz", "/_/health", "/readyz", "/_/ready", "/metrics", "/openapi.json"} {
		require.Contains(t, doc.Paths, p)
	}
	assert.Equal(t, "the function's own", doc.Paths["/healthz"]["get"].Summary)
	ready := doc.Paths["/readyz"]["get"]
	assert.NotNil(t, ready.Security, "no key needed")
	assert.Empty(t, ready.Security)
	assert.Contains(t, ready.Responses, "503")

	_, err := serve.WithStandardPaths([]byte(`[1]`))
	assert.Error(t, err)
	_, err = serve.WithStandardPaths([]byte(`{"paths": 3}`))
	assert.Error(t, err)
}
