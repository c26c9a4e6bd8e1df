// Command gateway serves every eventfn function in one process at
// http://$GATEWAY_ADDR/function/<name>, for `make run`.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/gateway"
	"github.com/eventfn/eventfn/shared/serve"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg gateway.Config
	if err := config.Load(&cfg); err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(1)
	}
	level, _ := config.ParseLevel(cfg.LogLevel)
	log := serve.NewLogger(os.Stderr, level)
	// Libraries that write through the standard log package (net/http's
	// server errors among them) then log JSON too, not plain text.
	slog.SetDefault(log)
	g, err := gateway.New(ctx, gateway.Functions, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", cfg.GatewayAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway: listen on GATEWAY_ADDR %s: %v\n", cfg.GatewayAddr, err)
		os.Exit(1)
	}
	fmt.Println(gateway.Tour("http://" + ln.Addr().String()))
	if err := g.Run(ctx, ln, cfg.ShutdownTimeout); err != nil {
		log.Error("gateway stopped", "error", err)
		os.Exit(1)
	}
}
