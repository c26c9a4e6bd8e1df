package gateway

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/eventfn/eventfn/shared/serve"
)

// operationKeys are the keys of a path item that hold an operation.
var operationKeys = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// MergeOpenAPI returns one OpenAPI 3.1 document for the whole API behind
// the gateway, from each function's own document (docs maps a function's
// name to the document its /openapi.json serves). A function's path P
// becomes /function/<name>P, tagged with the function's name. Components
// that every defining function defines alike are kept once under their
// name; a component name that functions define differently is renamed in
// each of them to its function's name in CamelCase followed by the name
// (ingest's Result becomes IngestResult, its bearer IngestBearer), and every reference to it follows,
// as do security requirements naming a renamed scheme. A document's own
// security requirement is copied onto each of its operations that sets
// none. The gateway's own endpoints (/, /healthz, /openapi.json) are added.
// It returns an error for a document that is not OpenAPI 3.1 or a renamed
// component that still clashes with another.
func MergeOpenAPI(docs map[string][]byte) ([]byte, error) {
	names := make([]string, 0, len(docs))
	parsed := map[string]map[string]any{}
	for name, raw := range docs {
		doc, err := serve.DecodeDocument(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
			return nil, fmt.Errorf("%s: openapi is %q, not 3.1", name, doc["openapi"])
		}
		parsed[name] = doc
		names = append(names, name)
	}
	sort.Strings(names)
	m := &merger{docs: parsed, names: names, renames: map[string]map[string]string{}}
	m.findClashes()

	paths := gatewayPaths()
	components := map[string]any{}
	var tags []any
	for _, name := range names {
		doc := parsed[name]
		desc := ""
		if info, ok := doc["info"].(map[string]any); ok {
			desc, _ = info["description"].(string)
		}
		tags = append(tags, map[string]any{"name": name, "description": desc})
		if err := m.addComponents(name, components); err != nil {
			return nil, err
		}
		docPaths, _ := doc["paths"].(map[string]any)
		for p, item := range docPaths {
			item, ok := m.rewrite(name, item).(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: path %s is not an object", name, p)
			}
			for _, method := range operationKeys {
				op, ok := item[method].(map[string]any)
				if !ok {
					continue
				}
				opTags, _ := op["tags"].([]any)
				op["tags"] = append([]any{name}, opTags...)
				if _, set := op["security"]; !set && doc["security"] != nil {
					op["security"] = m.rewriteSecurity(name, m.rewrite(name, doc["security"]))
				}
			}
			paths["/function/"+name+p] = item
		}
	}
	tags = append(tags, map[string]any{"name": "platform", "description": "What every function serves beside its work, for the platform: liveness, readiness, metrics, its API document."})
	out := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "eventfn",
			"version": "1.0.0",
			"description": "The whole eventfn API, one function under /function/<name>/ each (the OpenFaaS gateway's URL scheme, and make run's). " +
				"Each function also serves its own document at /function/<name>/openapi.json.",
		},
		"tags":       tags,
		"paths":      paths,
		"components": components,
	}
	return serve.EncodeDocument(out)
}

// merger holds the function documents and the component renames.
type merger struct {
	docs  map[string]map[string]any
	names []string
	// renames[function]["section/name"] is the component's merged name.
	renames map[string]map[string]string
}

// findClashes renames, in every function defining it, each component that
// two functions define differently. Renaming one component changes the
// references inside others, which may then differ too: it repeats until
// nothing changes.
func (m *merger) findClashes() {
	for changed := true; changed; {
		changed = false
		defs := map[string][]string{} // "section/name" -> functions defining it
		for _, name := range m.names {
			for _, key := range componentKeys(m.docs[name]) {
				defs[key] = append(defs[key], name)
			}
		}
		keys := make([]string, 0, len(defs))
		for k := range defs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			fns := defs[key]
			if len(fns) < 2 || m.renamed(fns[0], key) {
				continue
			}
			first := m.canonical(fns[0], key)
			for _, fn := range fns[1:] {
				if m.canonical(fn, key) == first {
					continue
				}
				_, comp, _ := strings.Cut(key, "/")
				for _, f := range fns {
					if m.renames[f] == nil {
						m.renames[f] = map[string]string{}
					}
					m.renames[f][key] = camel(f) + camel(comp)
				}
				changed = true
				break
			}
		}
	}
}

func (m *merger) renamed(fn, key string) bool {
	_, ok := m.renames[fn][key]
	return ok
}

// canonical is fn's definition of the component key, references rewritten,
// as canonical JSON (object keys sorted).
func (m *merger) canonical(fn, key string) string {
	section, name, _ := strings.Cut(key, "/")
	b, _ := json.Marshal(m.rewrite(fn, m.component(fn, section, name)))
	return string(b)
}

func (m *merger) component(fn, section, name string) any {
	comps, _ := m.docs[fn]["components"].(map[string]any)
	sec, _ := comps[section].(map[string]any)
	return sec[name]
}

// addComponents puts fn's components, renamed and rewritten, into out.
func (m *merger) addComponents(fn string, out map[string]any) error {
	for _, key := range componentKeys(m.docs[fn]) {
		section, name, _ := strings.Cut(key, "/")
		merged := name
		if r, ok := m.renames[fn][key]; ok {
			merged = r
		}
		value := m.rewrite(fn, m.component(fn, section, name))
		sec, _ := out[section].(map[string]any)
		if sec == nil {
			sec = map[string]any{}
			out[section] = sec
		}
		if prev, ok := sec[merged]; ok {
			a, _ := json.Marshal(prev)
			b, _ := json.Marshal(value)
			if string(a) != string(b) {
				return fmt.Errorf("%s: component %s/%s clashes with another function's %s", fn, section, name, merged)
			}
			continue
		}
		sec[merged] = value
	}
	return nil
}

// rewrite returns a deep copy of v, a part of fn's document, with its
// references and security requirements following the merge: components
// renamed, paths moved under /function/<fn>.
func (m *merger) rewrite(fn string, v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			switch ref, isString := e.(string); {
			case k == "$ref" && isString:
				out[k] = m.rewriteRef(fn, ref)
			case k == "security":
				out[k] = m.rewriteSecurity(fn, m.rewrite(fn, e))
			default:
				out[k] = m.rewrite(fn, e)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = m.rewrite(fn, e)
		}
		return out
	}
	return v
}

func (m *merger) rewriteRef(fn, ref string) string {
	if rest, ok := strings.CutPrefix(ref, "#/components/"); ok {
		section, tail, _ := strings.Cut(rest, "/")
		name, sub, hasSub := strings.Cut(tail, "/")
		if r, ok := m.renames[fn][section+"/"+unescapePointer(name)]; ok {
			ref = "#/components/" + section + "/" + escapePointer(r)
			if hasSub {
				ref += "/" + sub
			}
		}
		return ref
	}
	if rest, ok := strings.CutPrefix(ref, "#/paths/"); ok {
		return "#/paths/" + escapePointer("/function/"+fn) + rest
	}
	return ref
}

// rewriteSecurity renames the schemes a list of security requirements names;
// anything else under a "security" key (a schema property of that name) is
// left as it is.
func (m *merger) rewriteSecurity(fn string, v any) any {
	reqs, ok := v.([]any)
	if !ok {
		return v
	}
	for i, r := range reqs {
		req, ok := r.(map[string]any)
		if !ok {
			continue
		}
		renamed := make(map[string]any, len(req))
		for scheme, scopes := range req {
			if to, ok := m.renames[fn]["securitySchemes/"+scheme]; ok {
				scheme = to
			}
			renamed[scheme] = scopes
		}
		reqs[i] = renamed
	}
	return reqs
}

// componentKeys lists a document's components as "section/name", sorted.
func componentKeys(doc map[string]any) []string {
	comps, _ := doc["components"].(map[string]any)
	var keys []string
	for section, v := range comps {
		sec, _ := v.(map[string]any)
		for name := range sec {
			keys = append(keys, section+"/"+name)
		}
	}
	sort.Strings(keys)
	return keys
}

// camel spells a name in CamelCase: stats-dau is StatsDau, bearer Bearer.
func camel(name string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

// gatewayPaths describes what the gateway answers itself.
func gatewayPaths() map[string]any {
	status := map[string]any{
		"description": "The gateway is up; the functions it serves.",
		"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
			"type": "object", "required": []any{"status", "functions"},
			"properties": map[string]any{
				"status":    map[string]any{"type": "string", "enum": []any{"ok"}},
				"functions": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			},
		}}},
	}
	get := func(summary string, resp map[string]any) map[string]any {
		return map[string]any{"get": map[string]any{
			"summary": summary, "tags": []any{"platform"}, "security": []any{},
			"responses": map[string]any{"200": resp},
		}}
	}
	return map[string]any{
		"/":        get("The local gateway's status", status),
		"/healthz": get("The local gateway's liveness", status),
		"/openapi.json": get("This document: every function's API in one", map[string]any{
			"description": "The whole API, OpenAPI 3.1.",
			"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}},
		}),
	}
}
