package serve

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/eventfn/eventfn/shared/auth"
	"github.com/eventfn/eventfn/shared/event"
)

// statusOf is the one table from error codes to HTTP status.
var statusOf = map[event.Code]int{
	event.CodeInvalid:          http.StatusBadRequest,
	event.CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	event.CodeTooLarge:         http.StatusRequestEntityTooLarge,
	event.CodeRateLimited:      http.StatusTooManyRequests,
	event.CodeUnavailable:      http.StatusServiceUnavailable,
	event.CodeUnauthorized:     http.StatusUnauthorized,
	event.CodeForbidden:        http.StatusForbidden,
	event.CodeNotFound:         http.StatusNotFound,
	event.CodeNotImplemented:   http.StatusNotImplemented,
	event.CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	event.CodeInternal:         http.StatusInternalServerError,
}

// StatusOf maps an error to its HTTP status; errors without a code are 500.
func StatusOf(err error) int {
	if s, ok := statusOf[event.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
}

// JSON returns a response with v encoded as JSON.
func JSON(status int, v any) handler.Response {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error"}`)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return handler.Response{StatusCode: status, Body: append(b, '\n'), Header: h}
}

// Error returns the JSON error response for err; internal errors get a
// generic message. A 503 carries Retry-After, as the contract promises
// clients a retry hint.
func Error(err error) handler.Response {
	status := StatusOf(err)
	resp := JSON(status, ErrorBody{Error: event.ErrorMessage(err)})
	if status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		resp.Header.Set("Retry-After", "1")
	}
	return resp
}

// RetryAfterSeconds formats a wait for Retry-After and RateLimit-Reset:
// whole seconds, rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// IsInternal reports whether err is not a client fault and should be logged.
func IsInternal(err error) bool {
	var e *event.Error
	return !errors.As(err, &e) || e.Code == event.CodeInternal || e.Code == event.CodeUnavailable
}

// AdminPrecheck is a Precheck refusing, before its body is read, a POST
// without adminKey as its bearer token (auth.CheckAdmin; none when
// adminKey is empty).
func AdminPrecheck(adminKey string) func(req handler.Request) *handler.Response {
	return func(req handler.Request) *handler.Response {
		if req.Method != http.MethodPost {
			return nil // Handle answers 405
		}
		if err := auth.CheckAdmin(req.Header, adminKey); err != nil {
			resp := Error(err)
			return &resp
		}
		return nil
	}
}
