// Package openapitest checks the HTTP traffic of tests against the OpenAPI
// 3.1 documents the functions serve: a client whose every request and
// response is validated, so that an integration test also proves that the
// documents tell the truth. Only tests import it (it links kin-openapi,
// which no function binary needs).
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Validator holds one OpenAPI document, loaded and checked.
type Validator struct {
	router routers.Router
	// anyKey takes every request as authenticated.
	anyKey bool
}

// New loads an OpenAPI 3.1 document (JSON) and checks it against the
// OpenAPI rules. It returns an error for a document that does not load or
// validate, or that is not OpenAPI 3.1.
func New(doc []byte) (*Validator, error) {
	loader := openapi3.NewLoader()
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("openapitest: load: %w", err)
	}
	if !t.IsOpenAPI31OrLater() || t.IsOpenAPI32OrLater() {
		return nil, fmt.Errorf("openapitest: openapi %q is not 3.1", t.OpenAPI)
	}
	if err := t.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapitest: invalid document: %w", err)
	}
	// The document's servers name where it is deployed; a test serves it
	// elsewhere, so requests are matched by path alone.
	t.Servers = openapi3.Servers{{URL: "/"}}
	router, err := gorillamux.NewRouter(t)
	if err != nil {
		return nil, fmt.Errorf("openapitest: router: %w", err)
	}
	return &Validator{router: router}, nil
}

// Fetch builds a Validator from the document served at url (a function's or
// the gateway's /openapi.json); it stops the test when there is none or it
// does not validate.
func Fetch(tb testing.TB, url string) *Validator {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatalf("openapitest: get %s: %v", url, err)
	}
	defer resp.Body.Close()
	doc, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("openapitest: get %s: status %d, %v", url, resp.StatusCode, err)
	}
	v, err := New(doc)
	if err != nil {
		tb.Fatalf("openapitest: %s: %v", url, err)
	}
	return v
}

// AuthDisabled returns a copy of v for a function run with
// AUTH_DISABLED=true, which needs no key: the document's security
// requirements are taken as met by every request.
func (v *Validator) AuthDisabled() *Validator {
	c := *v
	c.anyKey = true
	return &c
}

// served maps the base URL of each function a test serves to the checker of
// its document.
var served sync.Map

// Register fetches the document served at base+"/openapi.json" (Fetch) and
// makes ClientFor check the traffic to base against it until the test ends.
func Register(tb testing.TB, base string) {
	tb.Helper()
	served.Store(base, Fetch(tb, base+"/openapi.json"))
	tb.Cleanup(func() { served.Delete(base) })
}

// ClientFor returns the client a test reaches rawURL with: one checking every
// exchange against the document registered for its scheme and host, or
// http.DefaultClient when none is.
func ClientFor(tb testing.TB, rawURL string) *http.Client {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatalf("openapitest: %v", err)
	}
	if v, ok := served.Load(u.Scheme + "://" + u.Host); ok {
		return v.(*Validator).Client(tb)
	}
	return http.DefaultClient
}

// Exchange is one request and the response it got, bodies read.
type Exchange struct {
	Request      *http.Request
	RequestBody  []byte
	Status       int
	Header       http.Header
	ResponseBody []byte
}

// Check reports whether an exchange agrees with the document:
//   - a path the document does not describe is answered 404, and a method
//     it does not describe on a path it does, 405 or 404;
//   - the response's status is one the operation lists, and its headers and
//     body match what the document says of that status;
//   - a request the document calls invalid (parameters, body, or no key
//     where one is required) is not answered with a plain success: a 2xx
//     other than 207 Multi-Status, which tells of events refused one by one.
//
// It returns nil, or an error describing every disagreement found.
func (v *Validator) Check(x Exchange) error {
	req := x.Request.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(x.RequestBody))
	req.ContentLength = int64(len(x.RequestBody))
	route, params, err := v.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		if x.Status != http.StatusNotFound {
			return fmt.Errorf("path %s is not in the document, yet it was answered %d (want 404)", req.URL.Path, x.Status)
		}
		return nil
	case errors.Is(err, routers.ErrMethodNotAllowed):
		if x.Status != http.StatusMethodNotAllowed && x.Status != http.StatusNotFound {
			return fmt.Errorf("method %s of %s is not in the document, yet it was answered %d (want 405)", req.Method, req.URL.Path, x.Status)
		}
		return nil
	case err != nil:
		return fmt.Errorf("find route: %w", err)
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: bearerPresent, SkipSettingDefaults: true},
	}
	if v.anyKey {
		in.Options.AuthenticationFunc = openapi3filter.NoopAuthenticationFunc
	}
	// A body kin-openapi cannot decode (an image sent in binary mode) is
	// checked for its media type only: the document can say no more of it.
	var mediaErr error
	if mt, ok := undecodable(req.Header.Get("Content-Type"), x.RequestBody); ok {
		in.Options.ExcludeRequestBody = true
		if rb := route.Operation.RequestBody; rb == nil || rb.Value == nil || rb.Value.Content.Get(mt) == nil {
			mediaErr = fmt.Errorf("request body of media type %s is not in the document", mt)
		}
	}
	reqErr := errors.Join(openapi3filter.ValidateRequest(ctx, in), mediaErr)
	// So is a response body of a type kin-openapi cannot decode (the
	// dashboard's HTML pages).
	respOpts := &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true}
	var respMediaErr error
	if mt, ok := undecodable(x.Header.Get("Content-Type"), x.ResponseBody); ok {
		respOpts.ExcludeResponseBody = true
		r := route.Operation.Responses.Status(x.Status)
		if r == nil {
			r = route.Operation.Responses.Default()
		}
		if r == nil || r.Value == nil || r.Value.Content.Get(mt) == nil {
			respMediaErr = fmt.Errorf("response body of media type %s is not in the document for status %d", mt, x.Status)
		}
	}
	respErr := errors.Join(openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 x.Status,
		Header:                 x.Header,
		Body:                   io.NopCloser(bytes.NewReader(x.ResponseBody)),
		Options:                respOpts,
	}), respMediaErr)
	var errs []error
	if respErr != nil {
		errs = append(errs, fmt.Errorf("response %d does not match the document: %w (body %s)", x.Status, respErr, clip(x.ResponseBody)))
	}
	if reqErr != nil && x.Status >= 200 && x.Status < 300 && x.Status != http.StatusMultiStatus {
		errs = append(errs, fmt.Errorf("the document calls the request invalid, yet it was answered %d: %w", x.Status, reqErr))
	}
	return errors.Join(errs...)
}

// undecodable returns the media type of a body that kin-openapi has no
// decoder for (it reads a +json type, RFC 6839, as JSON).
func undecodable(contentType string, body []byte) (string, bool) {
	if len(body) == 0 || contentType == "" {
		return "", false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || openapi3filter.RegisteredBodyDecoder(mt) != nil || strings.HasSuffix(mt, "+json") {
		return "", false
	}
	return mt, true
}

// bearerPresent stands for the functions' key check: the document can say
// that a key is needed, not which keys exist, so any bearer token passes.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	if s == nil || s.Type != "http" || !strings.EqualFold(s.Scheme, "bearer") {
		return fmt.Errorf("security scheme %s is not HTTP bearer", in.SecuritySchemeName)
	}
	token, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

func clip(b []byte) string {
	const max = 300
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// Transport returns a RoundTripper that sends every request through base
// (http.DefaultTransport when nil) and reports each exchange that
// disagrees with the document (Check) as an error of tb. The response
// reaches the caller unchanged.
func (v *Validator) Transport(tb testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{v: v, tb: tb, base: base}
}

// Client returns an http.Client whose transport is v.Transport(tb, nil).
func (v *Validator) Client(tb testing.TB) *http.Client {
	return &http.Client{Transport: v.Transport(tb, nil)}
}

type transport struct {
	v    *Validator
	tb   testing.TB
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		// A cut response is the test's to see, not a document's fault.
		return resp, nil
	}
	if cerr := t.v.Check(Exchange{Request: req, RequestBody: reqBody, Status: resp.StatusCode, Header: resp.Header, ResponseBody: body}); cerr != nil {
		t.tb.Errorf("openapi: %s %s: %v", req.Method, req.URL.RequestURI(), cerr)
	}
	return resp, nil
}
