package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/gateway"
	"github.com/eventfn/eventfn/shared/openapitest"
)

// Two functions' documents: both define Error alike; Result differently;
// Page alike in text but around the differing Result; bearer differently.
const (
	docA = `{"openapi": "3.1.0", "info": {"title": "a", "version": "1", "description": "A's work."},
  "security": [{"bearer": []}],
  "paths": {"/": {"post": {"responses": {
      "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}},
      "400": {"description": "bad", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/healthz": {"get": {"security": [], "responses": {"200": {"description": "ok"}}}}},
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "a write key"}},
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
      "Result": {"type": "object", "required": ["accepted"], "properties": {"accepted": {"type": "integer"}}},
      "Page": {"type": "object", "properties": {"result": {"$ref": "#/components/schemas/Result"}}}}}}`
	docB = `{"openapi": "3.1.0", "info": {"title": "b", "version": "1"},
  "security": [{"bearer": []}],
  "paths": {"/": {"get": {"responses": {
      "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}},
      "401": {"description": "no", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}}},
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "a read key"}},
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
      "Result": {"type": "object", "required": ["days"], "properties": {"days": {"type": "array"}}},
      "Page": {"type": "object", "properties": {"result": {"$ref": "#/components/schemas/Result"}}}}}}`
)

func TestMergeOpenAPI(t *testing.T) {
	merged, err := gateway.MergeOpenAPI(map[string][]byte{"stats-a": []byte(docA), "b": []byte(docB)})
	require.NoError(t, err)
	_, err = openapitest.New(merged)
	require.NoError(t, err, "the merged document is valid OpenAPI 3.1: %s", merged)

	var doc map[string]any
	require.NoError(t, json.Unmarshal(merged, &doc))
	assert.Equal(t, "3.1.0", doc["openapi"])
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	assert.ElementsMatch(t, []string{"Error", "StatsAResult", "BResult", "StatsAPage", "BPage"}, keys(schemas),
		"alike kept once, different renamed, and so is what refers to a renamed one")
	assert.Equal(t, "#/components/schemas/StatsAResult",
		schemas["StatsAPage"].(map[string]any)["properties"].(map[string]any)["result"].(map[string]any)["$ref"])
	schemes := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	assert.ElementsMatch(t, []string{"StatsABearer", "BBearer"}, keys(schemes))

	paths := doc["paths"].(map[string]any)
	for _, p := range []string{"/function/stats-a/", "/function/stats-a/healthz", "/function/b/", "/", "/healthz", "/openapi.json"} {
		assert.Contains(t, paths, p)
	}
	post := paths["/function/stats-a/"].(map[string]any)["post"].(map[string]any)
	assert.Equal(t, []any{map[string]any{"StatsABearer": []any{}}}, post["security"], "the document's security, on its operation, renamed")
	assert.Equal(t, []any{"stats-a"}, post["tags"])
	assert.Equal(t, "#/components/schemas/StatsAPage",
		post["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["$ref"])
	health := paths["/function/stats-a/healthz"].(map[string]any)["get"].(map[string]any)
	assert.Equal(t, []any{}, health["security"], "an operation's own security stays")

	// The same input gives the same document.
	again, err := gateway.MergeOpenAPI(map[string][]byte{"b": []byte(docB), "stats-a": []byte(docA)})
	require.NoError(t, err)
	assert.Equal(t, string(merged), string(again))
}

func TestMergeOpenAPIRefuses(t *testing.T) {
	_, err := gateway.MergeOpenAPI(map[string][]byte{"a": []byte(strings.Replace(docA, "3.1.0", "3.0.3", 1))})
	assert.ErrorContains(t, err, "not 3.1")
	_, err = gateway.MergeOpenAPI(map[string][]byte{"a": []byte(`{`)})
	assert.Error(t, err)
	// Renaming b's Result to AResult would meet a's own AResult.
	clash := strings.Replace(docA, `"Page": {`, `"BResult": {"type": "string"}, "Page": {`, 1)
	_, err = gateway.MergeOpenAPI(map[string][]byte{"b": []byte(docB), "a": []byte(strings.Replace(docB, "BResult", "x", 1)), "c": []byte(clash)})
	assert.ErrorContains(t, err, "clashes")
}

// TestGatewayServesTheWholeAPI: the gateway's /openapi.json holds every
// function's own document under /function/<name>/, valid OpenAPI 3.1,
// and each function keeps serving its own.
func TestGatewayServesTheWholeAPI(t *testing.T) {
	setFunctionEnv(t)
	t.Setenv("CONSUME_CONTINUOUS", "false")
	g, err := gateway.New(context.Background(), gateway.Functions, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(g.Close)
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)

	get := func(path string) map[string]any {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, b)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), path)
		_, err = openapitest.New(b)
		require.NoError(t, err, path)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(b, &doc))
		return doc
	}
	whole := get("/openapi.json")
	paths := whole["paths"].(map[string]any)
	for _, spec := range gateway.Functions {
		name := spec.Name()
		own := get("/function/" + name + "/openapi.json")
		for p, item := range own["paths"].(map[string]any) {
			merged, ok := paths["/function/"+name+p].(map[string]any)
			if assert.True(t, ok, "%s%s in the whole API", name, p) {
				for method := range item.(map[string]any) {
					assert.Contains(t, merged, method, "%s %s%s", method, name, p)
				}
			}
		}
		assert.Contains(t, paths, "/function/"+name+"/readyz", "the standard endpoints too")
	}
}
