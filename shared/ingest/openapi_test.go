package ingest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/openapitest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/testenv"
)

// TestOpenAPIDriftIsCaught: real exchanges with ingest agree with the
// document it serves, and the same exchanges are reported once the
// document drifts from the function: a required answer field renamed, a
// status removed, a required event attribute renamed.
func TestOpenAPIDriftIsCaught(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	resp, err := http.Get(h.url + "/openapi.json")
	require.NoError(t, err)
	served, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)

	exchange := func(body string) openapitest.Exchange {
		req, err := http.NewRequest(http.MethodPost, h.url+"/", bytes.NewBufferString(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/cloudevents+json")
		req.Header.Set("Authorization", "Bearer "+writeKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", raw)
		return openapitest.Exchange{Request: req, RequestBody: []byte(body), Status: resp.StatusCode, Header: resp.Header, ResponseBody: raw}
	}
	x := exchange(ce("drift-1"))
	v, err := openapitest.New(served)
	require.NoError(t, err)
	require.NoError(t, v.Check(x), "the served document agrees with the function")

	// drifted returns the served document changed by mutate.
	drifted := func(mutate func(schemas, post map[string]any)) *openapitest.Validator {
		doc, err := serve.DecodeDocument(served)
		require.NoError(t, err)
		schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
		post := doc["paths"].(map[string]any)["/"].(map[string]any)["post"].(map[string]any)
		mutate(schemas, post)
		b, err := json.Marshal(doc)
		require.NoError(t, err)
		v, err := openapitest.New(b)
		require.NoError(t, err)
		return v
	}
	tests := []struct {
		name    string
		mutate  func(schemas, post map[string]any)
		wantErr string
	}{
		{"answer field renamed", func(schemas, _ map[string]any) {
			result := schemas["Result"].(map[string]any)
			result["required"] = []any{"accepted_count", "duplicates", "rejected"}
		}, "accepted_count"},
		{"status removed", func(_, post map[string]any) {
			delete(post["responses"].(map[string]any), "202")
		}, "status is not supported"},
		{"event attribute renamed", func(schemas, _ map[string]any) {
			ce := schemas["CloudEvent"].(map[string]any)
			ce["required"] = []any{"specversion", "id", "origin", "type"}
		}, "calls the request invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := drifted(tc.mutate).Check(x)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
