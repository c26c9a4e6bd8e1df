// Command dashboard serves the dashboard function on $PORT: the same binary
// on OpenFaaS, Knative and in local runs.
package main

import (
	"os"

	"github.com/eventfn/eventfn/shared/dashboard"
	"github.com/eventfn/eventfn/shared/serve"
)

func main() { os.Exit(serve.Main(dashboard.Spec)) }
