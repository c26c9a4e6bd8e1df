// Command drill runs eventfn's fault drill on services of its own;
// `make drill` (scripts/drill) runs it. See package drill.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventfn/eventfn/shared/drill"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := drill.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
