// Command rollups lists and rebuilds the calendar rollups; scripts/rollups
// runs it. See package rollupadmin.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventfn/eventfn/shared/rollupadmin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := rollupadmin.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
