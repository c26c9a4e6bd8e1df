package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/testenv"
)

// crashChildEnv makes the test binary act as a consume-batch process that
// dies right after its first commit, before acknowledging anything.
const (
	crashChildEnv  = "EVENTFN_TEST_CRASH_AFTER_COMMIT"
	crashChildExit = 42
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	// The tests see the defaults whatever the caller's shell exports (a
	// crash child gets its settings from its parent, above).
	if err := testenv.ClearEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// crashChild drains with the config from the environment and exits with
// crashChildExit between the commit and the acknowledgements.
func crashChild() int {
	var cfg Config
	if err := config.Load(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := NewConsumer(context.Background(), cfg, serve.Deps{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c.afterCommit = func() { os.Exit(crashChildExit) }
	_, err = c.Drain(context.Background())
	fmt.Fprintln(os.Stderr, "drain returned without a commit:", err)
	return 1
}

func crashEvents(n int) []*event.Event {
	now := time.Now().UTC()
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = newEvent("shop", fmt.Sprintf("e%d", i), "page_view", fmt.Sprintf("u%d", i%7), now.Add(-time.Duration(i)*time.Hour))
	}
	return evs
}

// TestCrashAfterCommitBeforeAckChangesNothingOnRedelivery kills the
// consumer between the commit and the acks, in two ways, and checks that
// the redelivery leaves every table exactly as the commit left it.
func TestCrashAfterCommitBeforeAckChangesNothingOnRedelivery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("connection_cut", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.BatchSize = 1000 })
		h.publish(t, crashEvents(300)...)
		a := h.consumer(t)
		var atCommit map[string]string
		a.afterCommit = func() {
			atCommit = dbSnapshot(t, h.pool)
			a.bus.Conn().Close()
		}
		res, err := a.Drain(ctx)
		require.Error(t, err, "the acks cannot be sent")
		assert.ErrorIs(t, err, bus.ErrUnavailable)
		assert.Equal(t, 300, res.Inserted, "the batch committed")
		require.NotNil(t, atCommit)

		b := h.consumer(t)
		total := h.drainAll(t, b)
		assert.Equal(t, Result{Consumed: 300, Duplicates: 300}, total, "every message came back, and none was stored again")
		assert.Equal(t, atCommit, dbSnapshot(t, h.pool), "tables %s", tableNames(atCommit))
	})

	t.Run("process_killed", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.BatchSize = 1000 })
		h.publish(t, crashEvents(300)...)
		require.NoError(t, h.consumer(t).Ready(ctx), "streams, consumer and schema exist before the child runs")

		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), crashChildEnv+"=1",
			"DATABASE_URL="+h.cfg.DatabaseURL, "NATS_URL="+h.cfg.NATSURL,
			"NATS_STREAM="+h.cfg.Stream, "NATS_SUBJECT="+h.cfg.Subject, "NATS_CONSUMER="+h.cfg.Consumer,
			"NATS_DLQ_STREAM="+h.cfg.DLQStream, "NATS_DLQ_SUBJECT="+h.cfg.DLQSubject,
			"ACK_WAIT="+h.cfg.AckWait.String(), "CONSUME_BATCH_SIZE="+strconv.Itoa(h.cfg.BatchSize),
			"NATS_MAX_AGE="+h.cfg.MaxAge.String())
		out, err := child.CombinedOutput()
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "child: %v\n%s", err, out)
		require.Equal(t, crashChildExit, exit.ExitCode(), "the child died at the hook:\n%s", out)
		atCommit := dbSnapshot(t, h.pool)
		require.Equal(t, 300, h.count(t, "SELECT count(*) FROM events"), "the child's batch committed")

		total := h.drainAll(t, h.consumer(t))
		assert.Equal(t, Result{Consumed: 300, Duplicates: 300}, total)
		assert.Equal(t, atCommit, dbSnapshot(t, h.pool), "tables %s", tableNames(atCommit))
	})
}
