package drill

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// freePorts hands out loopback TCP ports to every run of the process (the
// test runs two at once), each port once.
var freePorts = &ports{given: map[int]bool{}}

// ports hands out free loopback TCP ports. A port is found free by
// listening on it and closing, and the server that gets it binds it a
// moment later: ports are taken below the kernel's ephemeral range when
// there is room, so that no outgoing connection takes one meanwhile.
type ports struct {
	mu    sync.Mutex
	given map[int]bool
}

// lowestEphemeral is where the kernel's range for outgoing connections
// (and for listening on port 0) starts.
func lowestEphemeral() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

func (p *ports) next() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	const low = 20000
	top := lowestEphemeral()
	for range 200 {
		addr := "127.0.0.1:0"
		if top > low+1000 {
			addr = "127.0.0.1:" + strconv.Itoa(low+rand.IntN(top-low))
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if !p.given[port] {
			p.given[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("pick a port: no free port in 200 tries")
}
