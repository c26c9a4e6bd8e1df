// Command dlq lists, shows, replays and purges dead-lettered events; scripts/dlq
// runs it. See package dlq.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventfn/eventfn/shared/dlq"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dlq.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
