package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DecodeDocument decodes an OpenAPI document into generic JSON values,
// numbers kept as written (json.Number), so that re-encoding changes no
// example or bound.
func DecodeDocument(doc []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("openapi document: not a JSON object")
	}
	return m, nil
}

// EncodeDocument encodes a document decoded by DecodeDocument, indented.
func EncodeDocument(m map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	return buf.Bytes(), nil
}

// WithStandardPaths returns the OpenAPI document doc with the endpoints
// that Server serves for every function added to its paths: /healthz,
// /readyz, /metrics, /openapi.json, and the OpenFaaS watchdog's /_/health
// and /_/ready. They need no key, whatever the document's own security
// says. A path the document already describes is left as it is. It
// returns an error when doc is no JSON object or its paths are no object.
func WithStandardPaths(doc []byte) ([]byte, error) {
	m, err := DecodeDocument(doc)
	if err != nil {
		return nil, err
	}
	paths, ok := m["paths"].(map[string]any)
	if !ok {
		if m["paths"] != nil {
			return nil, fmt.Errorf("openapi document: paths is not an object")
		}
		paths = map[string]any{}
		m["paths"] = paths
	}
	for p, item := range standardPaths() {
		if _, ok := paths[p]; !ok {
			paths[p] = item
		}
	}
	return EncodeDocument(m)
}

// standardPaths describes what ServeHTTP answers beside the function's work.
func standardPaths() map[string]any {
	status := func(values ...string) map[string]any {
		return map[string]any{"type": "string", "enum": toAny(values)}
	}
	jsonBody := func(desc string, schema map[string]any) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
	}
	get := func(summary string, responses map[string]any) map[string]any {
		return map[string]any{"get": map[string]any{
			"summary": summary, "tags": []any{"platform"}, "security": []any{}, "responses": responses,
		}}
	}
	health := get("Liveness: the process is up", map[string]any{
		"200": jsonBody("Alive.", map[string]any{
			"type": "object", "required": []any{"status"}, "properties": map[string]any{"status": status("ok")},
		}),
	})
	ready := get("Readiness: the function's dependencies are reachable", map[string]any{
		"200": jsonBody("Ready to serve.", map[string]any{
			"type": "object", "required": []any{"status"}, "properties": map[string]any{"status": status("ready")},
		}),
		"503": jsonBody("A dependency is unreachable (the reason names it), or the function is shutting down.", map[string]any{
			"type": "object", "required": []any{"status", "reason"},
			"properties": map[string]any{"status": status("unavailable"), "reason": map[string]any{"type": "string"}},
		}),
	})
	return map[string]any{
		"/healthz":  health,
		"/_/health": health,
		"/readyz":   ready,
		"/_/ready":  ready,
		"/metrics": get("Metrics in the Prometheus text format", map[string]any{
			"200": map[string]any{"description": "The function's metrics.", "content": map[string]any{
				"text/plain":                   map[string]any{"schema": map[string]any{"type": "string"}},
				"application/openmetrics-text": map[string]any{"schema": map[string]any{"type": "string"}},
			}},
		}),
		"/openapi.json": get("This document", map[string]any{
			"200": jsonBody("The function's OpenAPI 3.1 document.", map[string]any{"type": "object"}),
		}),
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
