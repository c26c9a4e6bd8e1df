package serve

import (
	"context"
	"fmt"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
)

// NotBuiltConfig is the environment of a function not built yet: only the
// server settings.
type NotBuiltConfig struct {
	config.Server
}

// Validate checks the server settings.
func (c NotBuiltConfig) Validate() error { return c.Server.Validate() }

// NotBuiltSpec is the Spec of a function that this version of eventfn does
// not implement yet. It deploys and serves the standard endpoints like any
// function, so manifests can name all six, and answers its work path with
// 501 and a message saying so.
func NotBuiltSpec(name string) Spec {
	return NewSpec(name, func(_ context.Context, _ NotBuiltConfig, _ Deps) (*Function, error) {
		return &Function{
			Handle: func(handler.Request) (handler.Response, error) {
				return Error(event.Errorf(event.CodeNotImplemented, "function %q is not built yet in this version of eventfn", name)), nil
			},
			OpenAPI: []byte(fmt.Sprintf(`{"openapi":"3.1.0","info":{"title":"eventfn %s (not built yet)","version":"0"},"paths":{"/":{"post":{"responses":{"501":{"description":"not built yet"}}}}}}`, name)),
		}, nil
	})
}
