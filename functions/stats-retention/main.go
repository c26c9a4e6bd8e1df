// Command stats-retention serves the stats-retention function on $PORT: the same binary
// on OpenFaaS, Knative and in local runs.
package main

import (
	"os"

	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/stats"
)

func main() { os.Exit(serve.Main(stats.RetentionSpec)) }
