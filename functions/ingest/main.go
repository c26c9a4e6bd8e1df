// Command ingest serves the ingest function on $PORT: the same binary on
// OpenFaaS, Knative and in local runs.
package main

import (
	"os"

	"github.com/eventfn/eventfn/shared/ingest"
	"github.com/eventfn/eventfn/shared/serve"
)

func main() { os.Exit(serve.Main(ingest.Spec)) }
