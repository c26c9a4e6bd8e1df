// Command reset drops the local database, streams and Redis keys of the
// current settings; `make reset` runs it. See package reset.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventfn/eventfn/shared/reset"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := reset.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
