package drill

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// lagSample is the durable consumer's lag at one moment: messages not yet
// delivered plus delivered and not yet acknowledged.
type lagSample struct {
	at  time.Time
	lag int64
}

// monitor samples the consumer's lag through a NATS connection of its own,
// keeping the highest lag of each phase and the recent samples.
type monitor struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   string
	consumer string
	phase    *atomic.Int32

	maxLag [maxPhases]atomic.Int64

	mu     sync.Mutex
	recent []lagSample // the last minute
}

func newMonitor(url, stream, consumer string, phase *atomic.Int32) (*monitor, error) {
	nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.Name("eventfn-drill-monitor"))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &monitor{nc: nc, js: js, stream: stream, consumer: consumer, phase: phase}, nil
}

// run samples every 200 ms until ctx ends. While NATS is down there are
// no samples.
func (m *monitor) run(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lag, err := m.sample(ctx)
		if err != nil {
			continue
		}
		p := m.phase.Load()
		for {
			cur := m.maxLag[p].Load()
			if lag <= cur || m.maxLag[p].CompareAndSwap(cur, lag) {
				break
			}
		}
		now := time.Now()
		m.mu.Lock()
		m.recent = append(m.recent, lagSample{now, lag})
		cut := 0
		for cut < len(m.recent) && now.Sub(m.recent[cut].at) > time.Minute {
			cut++
		}
		m.recent = m.recent[cut:]
		m.mu.Unlock()
	}
}

func (m *monitor) sample(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := m.js.Consumer(ctx, m.stream, m.consumer)
	if err != nil {
		return 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	return int64(info.NumPending) + int64(info.NumAckPending), nil
}

// highest returns the highest lag sampled in [from, to].
func (m *monitor) highest(from, to time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var h int64
	for _, s := range m.recent {
		if !s.at.Before(from) && !s.at.After(to) {
			h = max(h, s.lag)
		}
	}
	return h
}

// latest returns the newest sample.
func (m *monitor) latest() (lagSample, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.recent) == 0 {
		return lagSample{}, false
	}
	return m.recent[len(m.recent)-1], true
}

func (m *monitor) close() { m.nc.Close() }
