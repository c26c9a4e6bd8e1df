package drill

import (
	"fmt"
	"net"
	"sync"
)

// ports hands out free loopback TCP ports, each once per drill: a port is
// found free by listening on it and closing, so two servers asked for in
// a row must not be given the same one.
type ports struct {
	mu    sync.Mutex
	given map[int]bool
}

func (p *ports) next() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.given == nil {
		p.given = map[int]bool{}
	}
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick a port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if !p.given[port] {
			p.given[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("pick a port: no new free port in 100 tries")
}
