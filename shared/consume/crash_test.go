package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/testenv"
)

// crashChildEnv makes the test binary act as a consume-batch process that
// dies at one point of its work (the variable's value, a crashPoint).
const (
	crashChildEnv  = "EVENTFN_TEST_CRASH_AT"
	crashChildExit = 42
)

// Points where the child dies.
const (
	// afterCommit: the batch committed, nothing acknowledged, the rollups
	// not caught up (the events are in the feed).
	afterCommit = "after-commit"
	// inRollupStep: every message stored and acknowledged; the
	// materializer wrote the rollups and advanced the feed, and dies
	// before that transaction commits.
	inRollupStep = "in-rollup-step"
	// afterRollupsBeforeAck: the batch committed and the rollups caught up
	// (committed), nothing acknowledged.
	afterRollupsBeforeAck = "after-rollups-before-ack"
)

func TestMain(m *testing.M) {
	if at := os.Getenv(crashChildEnv); at != "" {
		os.Exit(crashChild(at))
	}
	// The tests see the defaults whatever the caller's shell exports (a
	// crash child gets its settings from its parent, above).
	if err := testenv.ClearEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// crashChild works with the config from the environment and exits with
// crashChildExit at the point at.
func crashChild(at string) int {
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
	ctx := context.Background()
	die := func() { os.Exit(crashChildExit) }
	switch at {
	case afterCommit:
		c.afterCommit = die
	case afterRollupsBeforeAck:
		c.afterCommit = func() {
			if _, err := c.Materialize(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "materialize:", err)
				os.Exit(1)
			}
			die()
		}
	case inRollupStep:
		c.rollups.SetBeforeCommit(die)
		if _, err := c.Drain(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "drain:", err)
			return 1
		}
		_, err = c.Materialize(ctx)
		fmt.Fprintln(os.Stderr, "materialize returned without a step:", err)
		return 1
	}
	_, err = c.Drain(ctx)
	fmt.Fprintln(os.Stderr, "drain returned without a commit:", err)
	return 1
}

func crashEvents(n int) []*event.Event {
	now := time.Now().UTC()
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = newEvent("shop", fmt.Sprintf("e%d", i), fmt.Sprintf("type_%d", i%4), fmt.Sprintf("u%d", i%7), now.Add(-time.Duration(i)*time.Hour))
	}
	return evs
}

// runCrashChild runs the test binary as a consume-batch process on h's
// database and streams that dies at point at, and waits for it.
func runCrashChild(t *testing.T, h *harness, at string) {
	t.Helper()
	require.NoError(t, h.consumer(t).Ready(context.Background()), "streams, consumer and schema exist before the child runs")
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), crashChildEnv+"="+at,
		"DATABASE_URL="+h.cfg.DatabaseURL, "NATS_URL="+h.cfg.NATSURL,
		"NATS_STREAM="+h.cfg.Stream, "NATS_SUBJECT="+h.cfg.Subject, "NATS_CONSUMER="+h.cfg.Consumer,
		"NATS_DLQ_STREAM="+h.cfg.DLQStream, "NATS_DLQ_SUBJECT="+h.cfg.DLQSubject,
		"ACK_WAIT="+h.cfg.AckWait.String(), "CONSUME_BATCH_SIZE="+strconv.Itoa(h.cfg.BatchSize),
		"NATS_MAX_AGE="+h.cfg.MaxAge.String())
	out, err := child.CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "child: %v\n%s", err, out)
	require.Equal(t, crashChildExit, exit.ExitCode(), "the child died at the hook:\n%s", out)
}

// TestCrashAfterCommitBeforeAckChangesNothingOnRedelivery kills the
// consumer between the commit and the acks, in two ways, and checks that
// the redelivery leaves every table exactly as the commit left it, and
// that the stats count every event once, before the rollups caught up and
// after.
func TestCrashAfterCommitBeforeAckChangesNothingOnRedelivery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evs := crashEvents(300)
	want := statsAnswers(t, referenceSnapshot(t, evs), []string{"shop"}, evs[0].ReceivedAt)

	t.Run("connection_cut", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.BatchSize = 1000 })
		h.publish(t, evs...)
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
		h.checkStats(t, want, evs[0].ReceivedAt)
	})

	t.Run("process_killed", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.BatchSize = 1000 })
		h.publish(t, evs...)
		runCrashChild(t, h, afterCommit)
		atCommit := dbSnapshot(t, h.pool)
		require.Equal(t, 300, h.count(t, "SELECT count(*) FROM events"), "the child's batch committed")
		require.Equal(t, 300, h.count(t, "SELECT coalesce(sum(n), 0) FROM rollup_feed"), "not yet in the rollups")

		total := h.drainAll(t, h.consumer(t))
		assert.Equal(t, Result{Consumed: 300, Duplicates: 300}, total)
		assert.Equal(t, atCommit, dbSnapshot(t, h.pool), "tables %s", tableNames(atCommit))
		h.checkStats(t, want, evs[0].ReceivedAt)
	})
}

// TestCrashDuringTheRollupStepLosesNothing kills the materializer inside
// its transaction, after it wrote the rollups and advanced the feed: none
// of it happened, and the next materializer applies the chunk once.
func TestCrashDuringTheRollupStepLosesNothing(t *testing.T) {
	t.Parallel()
	evs := crashEvents(300)
	want := statsAnswers(t, referenceSnapshot(t, evs), []string{"shop"}, evs[0].ReceivedAt)
	h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.BatchSize = 100 })
	h.publish(t, evs...)
	before := rollupTables(t, h)
	runCrashChild(t, h, inRollupStep)
	require.Equal(t, 300, h.count(t, "SELECT count(*) FROM events"), "every batch committed")
	require.Equal(t, 300, h.count(t, "SELECT coalesce(sum(n), 0) FROM rollup_feed"), "the step rolled back: the feed holds every event")
	assert.Equal(t, before, rollupTables(t, h), "the step rolled back: the rollups are untouched")
	assert.Equal(t, Result{}, h.drainAll(t, h.consumer(t)), "every message was acknowledged before the crash")
	h.checkStats(t, want, evs[0].ReceivedAt)
}

// TestCrashAfterTheRollupsBeforeAck kills the consumer after the batch
// committed and the rollups took it, before any acknowledgement: the
// redelivery stores nothing and counts nothing twice.
func TestCrashAfterTheRollupsBeforeAck(t *testing.T) {
	t.Parallel()
	evs := crashEvents(300)
	want := statsAnswers(t, referenceSnapshot(t, evs), []string{"shop"}, evs[0].ReceivedAt)
	h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.BatchSize = 1000 })
	h.publish(t, evs...)
	runCrashChild(t, h, afterRollupsBeforeAck)
	require.Zero(t, h.count(t, "SELECT count(*) FROM rollup_feed"), "the rollups caught up")
	atCrash := dbSnapshot(t, h.pool)
	assert.Equal(t, Result{Consumed: 300, Duplicates: 300}, h.drainAll(t, h.consumer(t)))
	assert.Equal(t, atCrash, dbSnapshot(t, h.pool), "tables %s", tableNames(atCrash))
	h.checkStats(t, want, evs[0].ReceivedAt)
}

// rollupTables fingerprints the rollup tables.
func rollupTables(t *testing.T, h *harness) map[string]string {
	t.Helper()
	snap := dbSnapshot(t, h.pool)
	for k := range snap {
		if !strings.HasPrefix(k, "rollup_") || k == "rollup_feed" {
			delete(snap, k)
		}
	}
	return snap
}

// checkStats holds the stats answers to want, first as they are (the
// events not yet in the rollups counted from the feed), then once the
// feed is materialized.
func (h *harness) checkStats(t *testing.T, want map[string]string, to time.Time) {
	t.Helper()
	assert.Equal(t, want, statsAnswers(t, h.cfg.DatabaseURL, []string{"shop"}, to), "before the rollups caught up")
	rolluptest.Materialize(t, h.pool)
	assert.Zero(t, h.count(t, "SELECT count(*) FROM rollup_feed"))
	assert.Equal(t, want, statsAnswers(t, h.cfg.DatabaseURL, []string{"shop"}, to), "from the rollups")
}
