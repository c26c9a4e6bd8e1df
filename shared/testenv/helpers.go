package testenv

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"testing"
)

// ClosedPort returns a local TCP port that nothing listens on (it was
// free a moment ago), for a service that is down.
func ClosedPort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: pick a port: %v", err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if err := ln.Close(); err != nil {
		tb.Fatalf("testenv: free port %s: %v", port, err)
	}
	return port
}

// Buffer is a bytes.Buffer that a logger in another goroutine may write
// while the test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
