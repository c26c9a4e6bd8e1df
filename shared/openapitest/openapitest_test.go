package openapitest_test

import (
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/openapitest"
)

// doc uses what OpenAPI 3.1 adds to 3.0 (type arrays, const): a validator
// reading it as 3.0 would refuse the document or the traffic below.
const doc = `{
  "openapi": "3.1.0",
  "info": {"title": "t", "version": "1"},
  "security": [{"bearer": []}],
  "paths": {
    "/": {"post": {
      "requestBody": {"required": true, "content": {"application/json": {"schema": {
        "type": "object", "required": ["id"],
        "properties": {"id": {"type": ["string", "integer"]}, "v": {"const": "1.0"}}}}}},
      "responses": {
        "202": {"description": "ok", "content": {"application/json": {"schema": {
          "type": "object", "required": ["accepted"], "properties": {"accepted": {"type": "integer"}}}}}},
        "400": {"description": "bad", "content": {"application/json": {"schema": {"type": "object"}}}}
      }
    }},
    "/page": {"get": {
      "security": [],
      "responses": {"200": {"description": "a page", "content": {"text/html": {"schema": {"type": "string"}}}}}
    }}
  },
  "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}
}`

// server answers what the test tells it to, whatever the request.
func server(t *testing.T, status int, contentType, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCheck(t *testing.T) {
	v, err := openapitest.New([]byte(doc))
	require.NoError(t, err)
	tests := []struct {
		name, method, path, key, body string
		status                        int
		answer, answerType            string
		wantErr                       string
	}{
		{name: "valid, integer id", method: "POST", path: "/", key: "k", body: `{"id":7,"v":"1.0"}`, status: 202, answer: `{"accepted":1}`},
		{name: "valid, string id", method: "POST", path: "/", key: "k", body: `{"id":"a"}`, status: 202, answer: `{"accepted":1}`},
		{name: "response lacks a required field", method: "POST", path: "/", key: "k", body: `{"id":"a"}`, status: 202, answer: `{"taken":1}`, wantErr: "accepted"},
		{name: "status not documented", method: "POST", path: "/", key: "k", body: `{"id":"a"}`, status: 200, answer: `{"accepted":1}`, wantErr: "status is not supported"},
		{name: "const violated and answered 202", method: "POST", path: "/", key: "k", body: `{"id":"a","v":"2"}`, status: 202, answer: `{"accepted":1}`, wantErr: "calls the request invalid"},
		{name: "invalid body refused", method: "POST", path: "/", key: "k", body: `{"id":true}`, status: 400, answer: `{}`},
		{name: "no key, answered 202", method: "POST", path: "/", body: `{"id":"a"}`, status: 202, answer: `{"accepted":1}`, wantErr: "calls the request invalid"},
		{name: "unknown path answered 404", method: "GET", path: "/nope", status: 404, answer: `{}`},
		{name: "unknown path answered 200", method: "GET", path: "/nope", status: 200, answer: `{}`, wantErr: "not in the document"},
		{name: "unknown method answered 405", method: "GET", path: "/", status: 405, answer: `{}`},
		{name: "unknown method answered 200", method: "GET", path: "/", status: 200, answer: `{}`, wantErr: "not in the document"},
		{name: "html page as documented", method: "GET", path: "/page", status: 200, answer: "<!doctype html><p>hi", answerType: "text/html; charset=utf-8"},
		{name: "html where json is documented", method: "POST", path: "/", key: "k", body: `{"id":"a"}`, status: 202, answer: "<p>ok", answerType: "text/html", wantErr: "media type text/html is not in the document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := server(t, tc.status, cmp.Or(tc.answerType, "application/json"), tc.answer)
			req, err := http.NewRequest(tc.method, url+tc.path, strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			rec := &recorder{TB: t}
			resp, err := (&http.Client{Transport: v.Transport(rec, nil)}).Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode, "the response reaches the caller")
			if tc.wantErr == "" {
				assert.Empty(t, rec.errors)
				return
			}
			require.Len(t, rec.errors, 1)
			assert.Contains(t, rec.errors[0], tc.wantErr)
		})
	}
}

func TestNewRefusesWhatIsNotOpenAPI31(t *testing.T) {
	_, err := openapitest.New([]byte(strings.Replace(doc, `"3.1.0"`, `"3.0.3"`, 1)))
	assert.ErrorContains(t, err, "not 3.1")
	_, err = openapitest.New([]byte(strings.Replace(doc, `"responses": {`, `"responses": {"2xx": 1,`, 1)))
	assert.Error(t, err)
}

// recorder keeps the errors reported to it instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, strings.TrimSpace(fmt.Sprintf(format, args...)))
}
