// Package serve is the plumbing every eventfn function shares: the Function
// type (a go-http handler plus readiness and background work), the adapter
// that serves it over net/http with /healthz, /_/health, /readyz, /metrics
// and /openapi.json, the one table that maps error codes to HTTP status,
// request ids, JSON logs, and Main, which a function's main calls.
package serve
