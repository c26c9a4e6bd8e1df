package testenv

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedNATS is a real nats-server with JetStream running inside the test
// process, on its own port and store directory, that the test may stop and
// start again (same port, same data) to drill broker faults.
type EmbeddedNATS struct {
	tb   testing.TB
	port int
	dir  string
	srv  *server.Server
}

// StartNATS starts an embedded nats-server with JetStream; it is shut down
// when the test ends.
func StartNATS(tb testing.TB) *EmbeddedNATS {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: pick a port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	e := &EmbeddedNATS{tb: tb, port: port, dir: tb.TempDir()}
	e.Start()
	tb.Cleanup(e.Stop)
	return e
}

// URL is the server's client URL; it stays the same across Stop and Start.
func (e *EmbeddedNATS) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", e.port) }

// Start (re)starts the server on its port and store directory.
func (e *EmbeddedNATS) Start() {
	e.tb.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      e.port,
		JetStream: true,
		StoreDir:  e.dir,
		NoLog:     true,
		NoSigs:    true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		e.tb.Fatalf("testenv: nats-server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		e.tb.Fatalf("testenv: nats-server not ready on port %d", e.port)
	}
	e.srv = srv
}

// Stop shuts the server down and waits until it is gone.
func (e *EmbeddedNATS) Stop() {
	if e.srv == nil {
		return
	}
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.srv = nil
}
