package ingest

import (
	"net/http"
	"strings"

	handler "github.com/openfaas/templates-sdk/go-http"
)

// cors lets browser SDKs send events straight to ingest from the allowed
// origins. Authorization and ce-* headers make every such request
// preflighted, so the preflight answer allows exactly what was asked.
type cors struct {
	any     bool
	origins map[string]bool
}

func newCORS(allowed string) cors {
	c := cors{origins: map[string]bool{}}
	for _, o := range strings.Split(allowed, ",") {
		o = strings.TrimSpace(o)
		switch o {
		case "":
		case "*":
			c.any = true
		default:
			c.origins[strings.TrimSuffix(o, "/")] = true
		}
	}
	return c
}

func (c cors) enabled() bool { return c.any || len(c.origins) > 0 }

// apply adds the CORS headers to resp when the request's origin is allowed.
func (c cors) apply(req handler.Request, resp *handler.Response) {
	origin := req.Header.Get("Origin")
	if origin == "" || !(c.any || c.origins[origin]) {
		return
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	h := resp.Header
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-Id")
	if req.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		if asked := req.Header.Get("Access-Control-Request-Headers"); asked != "" {
			h.Set("Access-Control-Allow-Headers", asked)
		}
		h.Set("Access-Control-Max-Age", "600")
	}
}
