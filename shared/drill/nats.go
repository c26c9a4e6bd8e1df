package drill

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is the drill's own NATS: one nats-server, or a cluster of three
// whose route connections all pass through proxies the drill can cut.
type NATS struct {
	servers []*natsServer
	// routes[i][j] carries the route connections server i opens to j.
	routes [][]*proxy
}

type natsServer struct {
	name string
	port int
	proc *Process
}

// startNATS starts n servers (1, or 3 for a cluster) with JetStream on
// file storage and waits until JetStream answers.
func startNATS(ctx context.Context, w *workspace, bin string, n int) (*NATS, error) {
	ns := &NATS{}
	ok := false
	defer func() {
		if !ok {
			ns.Close()
		}
	}()
	var clusterPorts []int
	for i := range n {
		port, err := w.ports.next()
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("nats-%d", i+1)
		ns.servers = append(ns.servers, &natsServer{name: name, port: port})
		if n > 1 {
			cp, err := w.ports.next()
			if err != nil {
				return nil, err
			}
			clusterPorts = append(clusterPorts, cp)
		}
	}
	// Every server advertises one route address where nothing listens, and
	// lists it among its configured routes: a server takes an address it
	// learns by gossip for one of its own routes and does not dial it, so
	// that no route goes around the proxies. (Dialling it fails, and is
	// retried now and then, harmlessly.)
	var nowhere int
	if n > 1 {
		var err error
		if nowhere, err = w.ports.next(); err != nil {
			return nil, err
		}
		ns.routes = make([][]*proxy, n)
		for i := range n {
			ns.routes[i] = make([]*proxy, n)
			for j := range n {
				if i == j {
					continue
				}
				port, err := w.ports.next()
				if err != nil {
					return nil, err
				}
				if ns.routes[i][j], err = newProxy(port, fmt.Sprintf("127.0.0.1:%d", clusterPorts[j])); err != nil {
					return nil, err
				}
			}
		}
	}
	for i, s := range ns.servers {
		store := w.path(s.name + "-store")
		conf := fmt.Sprintf("server_name: %q\nlisten: \"127.0.0.1:%d\"\njetstream {\n  store_dir: %q\n}\n", s.name, s.port, store)
		if n > 1 {
			routes := []string{fmt.Sprintf("%q", fmt.Sprintf("nats-route://127.0.0.1:%d", nowhere))}
			for j := range n {
				if j != i {
					routes = append(routes, fmt.Sprintf("%q", "nats-route://"+ns.routes[i][j].ln.Addr().String()))
				}
			}
			conf += fmt.Sprintf("cluster {\n  name: \"drill\"\n  listen: \"127.0.0.1:%d\"\n  advertise: \"127.0.0.1:%d\"\n  routes: [%s]\n}\n",
				clusterPorts[i], nowhere, strings.Join(routes, ", "))
		}
		confPath := w.path(s.name + ".conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
		s.proc = NewProcess(s.name, w.logPath(s.name), bin, []string{"-c", confPath}, nil)
		if err := s.start(ctx); err != nil {
			return nil, err
		}
	}
	if err := ns.waitJetStream(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	ok = true
	return ns, nil
}

func (s *natsServer) start(ctx context.Context) error {
	if err := s.proc.Start(); err != nil {
		return err
	}
	return waitTCP(ctx, s.proc, s.port, time.Minute)
}

// URL is the comma-separated client URLs of every server, as NATS_URL.
func (ns *NATS) URL() string {
	urls := make([]string, len(ns.servers))
	for i, s := range ns.servers {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", s.port)
	}
	return strings.Join(urls, ",")
}

// waitJetStream waits until JetStream answers an account request, which on
// a cluster means a meta leader was elected.
func (ns *NATS) waitJetStream(ctx context.Context, timeout time.Duration) error {
	nc, err := nats.Connect(ns.URL(), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("nats: JetStream not available after %s: %w", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// server returns the server called name.
func (ns *NATS) server(name string) (*natsServer, error) {
	for _, s := range ns.servers {
		if s.name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("nats: no server %q", name)
}

// partition cuts every route connection of server i, both ways.
func (ns *NATS) partition(i int) {
	for j := range ns.servers {
		if j != i {
			ns.routes[i][j].Cut()
			ns.routes[j][i].Cut()
		}
	}
}

// heal lets server i's routes connect again.
func (ns *NATS) heal(i int) {
	for j := range ns.servers {
		if j != i {
			ns.routes[i][j].Heal()
			ns.routes[j][i].Heal()
		}
	}
}

// processes lists the servers' processes.
func (ns *NATS) processes() []*Process {
	var out []*Process
	for _, s := range ns.servers {
		out = append(out, s.proc)
	}
	return out
}

// Close kills every server and stops the proxies.
func (ns *NATS) Close() {
	if ns == nil {
		return
	}
	for _, s := range ns.servers {
		if s.proc != nil {
			_ = s.proc.Kill()
		}
	}
	for _, row := range ns.routes {
		for _, p := range row {
			if p != nil {
				p.Close()
			}
		}
	}
}

// streamPeers returns the stream's leader and its other replicas by server
// name.
func streamPeers(ctx context.Context, js jetstream.JetStream, stream string) (leader string, followers []string, err error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return "", nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return "", nil, err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", nil, fmt.Errorf("stream %s has no leader", stream)
	}
	for _, r := range info.Cluster.Replicas {
		followers = append(followers, r.Name)
	}
	return info.Cluster.Leader, followers, nil
}
