// Command consume-batch serves the consume-batch function on $PORT: it
// drains the events stream into PostgreSQL on POST /, or for the process's
// life when CONSUME_CONTINUOUS=true.
package main

import (
	"os"

	"github.com/eventfn/eventfn/shared/consume"
	"github.com/eventfn/eventfn/shared/serve"
)

func main() { os.Exit(serve.Main(consume.Spec)) }
