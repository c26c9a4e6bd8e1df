package consume

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/testenv"
)

// blockDatabase makes the harness's database refuse every connection, a
// superuser's too, and cuts the open ones: PostgreSQL is "down" for this
// test only. The returned function lets connections in again.
func blockDatabase(t *testing.T, h *harness) (unblock func()) {
	t.Helper()
	u, err := url.Parse(h.cfg.DatabaseURL)
	require.NoError(t, err)
	name := strings.TrimPrefix(u.Path, "/")
	admin := func(sql string) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, testenv.AdminDatabaseURL())
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		require.NoError(t, err)
	}
	admin(fmt.Sprintf(`ALTER DATABASE %q ALLOW_CONNECTIONS false`, name))
	admin(fmt.Sprintf(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'`, name))
	return func() { admin(fmt.Sprintf(`ALTER DATABASE %q ALLOW_CONNECTIONS true`, name)) }
}

func TestDatabaseOutageRetriesWithoutDeadLettering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.MaxDeliver = 2 })
	c := h.consumer(t)
	now := time.Now().UTC()
	for i := range 5 {
		h.publish(t, newEvent("shop", fmt.Sprintf("e%d", i), "page_view", "u1", now))
	}

	unblock := blockDatabase(t, h)
	// Every message is delivered more than MAX_DELIVER times while the
	// database is down.
	retried := func() int { return int(testutil.ToFloat64(c.m.messages.WithLabelValues("retried"))) }
	testenv.Eventually(t, 30*time.Second, func() bool {
		// A drain that finds the messages waiting for their retry delay
		// has nothing to do; one that fetches them fails.
		res, err := c.Drain(ctx)
		if err != nil {
			assert.ErrorIs(t, err, errUnavailable)
		}
		assert.Zero(t, res.Consumed)
		return retried() >= 5*(h.cfg.MaxDeliver+1)
	}, "messages not retried past MAX_DELIVER; retried %d", retried())
	assert.Error(t, c.Ready(ctx), "unready while the database is down")
	letters, err := h.pub.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	assert.Empty(t, letters, "a passing failure never dead-letters")

	unblock()
	res := h.drainAll(t, c)
	assert.Equal(t, Result{Consumed: 5, Inserted: 5}, res)
	assert.NoError(t, c.Ready(ctx))
}

// TestAckToADeadServerGivesUp: a server that dies with a batch's last ack
// never answers it; the consumer gives up on the answer instead of waiting
// out the batch's deadline, and the messages come back as duplicates.
func TestAckToADeadServerGivesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := testenv.StartNATS(t)
	h := newHarness(t, ns.URL(), nil)
	c := h.consumer(t)
	h.publish(t, newEvent("shop", "a1", "page_view", "u1", time.Now()))
	cons, err := c.prepare(ctx)
	require.NoError(t, err)
	msgs, err := bus.Fetch(ctx, cons, 10, time.Second)
	require.NoError(t, err)
	require.Len(t, msgs, 1)

	ns.Stop()
	done := make(chan error, 1)
	go func() {
		bctx, cancel := context.WithTimeout(ctx, batchTimeout)
		defer cancel()
		done <- c.ack(bctx, msgs)
	}()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, bus.ErrUnavailable)
	case <-time.After(batchTimeout / 2):
		t.Fatal("the ack waited for a server that is gone")
	}
}
