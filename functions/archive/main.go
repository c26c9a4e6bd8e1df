// Command archive serves the archive function on $PORT. This version of
// eventfn does not implement archiving yet: the function answers 501.
package main

import (
	"os"

	"github.com/eventfn/eventfn/shared/serve"
)

func main() { os.Exit(serve.Main(serve.NotBuiltSpec("archive"))) }
