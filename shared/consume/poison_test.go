package consume

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/dlq"
	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/rollup/rolluptest"
	"github.com/eventfn/eventfn/shared/testenv"
)

// refuseType makes the database refuse, as a schema would, every event of
// type "refused" with a data exception (SQLSTATE 22023), until fixed.
func refuseType(t *testing.T, h *harness) (fix func()) {
	t.Helper()
	ctx := context.Background()
	_, err := h.pool.Exec(ctx, `
		CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.type = 'refused' THEN
				RAISE EXCEPTION 'events of type refused are not allowed' USING ERRCODE = '22023';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER test_refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_refuse();`)
	require.NoError(t, err)
	return func() {
		_, err := h.pool.Exec(ctx, `DROP TRIGGER test_refuse ON events`)
		require.NoError(t, err)
	}
}

// TestPoisonMessagesAreDeadLetteredAfterMaxDeliverAndReplayedOnce runs on
// the machine's NATS (2.9) and on the embedded server of the nats-server
// module, as the consumer must work on both.
func TestPoisonMessagesAreDeadLetteredAfterMaxDeliverAndReplayedOnce(t *testing.T) {
	t.Parallel()
	for _, server := range []string{"shared", "embedded"} {
		t.Run(server, func(t *testing.T) {
			t.Parallel()
			url := testenv.NATSURL()
			if server == "embedded" {
				url = testenv.StartNATS(t).URL()
			}
			testPoison(t, url)
		})
	}
}

func testPoison(t *testing.T, natsURL string) {
	ctx := context.Background()
	h := newHarness(t, natsURL, func(c *Config) { c.MaxDeliver = 3; c.BatchSize = 10 })
	c := h.consumer(t)
	fix := refuseType(t, h)
	now := time.Now().UTC()

	good1 := newEvent("shop", "good-1", "page_view", "u1", now)
	refused := newEvent("shop", "refused-1", "refused", "u1", now)
	good2 := newEvent("shop", "good-2", "page_view", "u2", now)
	h.publish(t, good1, refused)
	h.publishMsgs(t,
		h.rawMsg("shop", "not json at all", map[string]string{bus.HeaderProject: "shop"}),
		h.rawMsg("shop", `{"specversion":"1.0","id":"x","source":"/s","type":"t"}`, nil), // no project header
	)
	h.publish(t, good2)

	var total Result
	testenv.Eventually(t, 30*time.Second, func() bool {
		r, err := c.Drain(ctx)
		require.NoError(t, err)
		total.add(r)
		return r.Pending == 0
	}, "poison messages not settled; so far %+v", total)
	// good1 and refused travel in one message: good1 is stored on the
	// first delivery and found stored on the two redeliveries that retry
	// refused, which then goes to the dead letters alone.
	assert.Equal(t, Result{Consumed: 7, Inserted: 2, Duplicates: 2, DeadLettered: 3}, total,
		"the good events are stored at once, the refused event and the two unreadable messages dead-lettered")
	assert.Equal(t, 2, h.count(t, "SELECT count(*) FROM events"))

	letters, err := h.pub.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, letters, 3)
	byError := map[string]bus.DeadLetter{}
	for _, dl := range letters {
		assert.Equal(t, 3, dl.Deliveries, "dead-lettered after exactly MAX_DELIVER deliveries: %s", dl.Error)
		assert.Equal(t, h.cfg.Stream, dl.Stream)
		assert.Equal(t, h.pub.EventsSubject("shop"), dl.Subject)
		assert.NotZero(t, dl.StreamSequence)
		switch {
		case strings.Contains(dl.Error, "events of type refused are not allowed"):
			byError["refused"] = dl
		case strings.Contains(dl.Error, "decode cloudevent"):
			byError["undecodable"] = dl
		case strings.Contains(dl.Error, bus.HeaderProject):
			byError["no project"] = dl
		}
	}
	require.Len(t, byError, 3, "each letter carries its own error: %+v", letters)
	assert.Equal(t, "not json at all", string(byError["undecodable"].Data))
	assert.Equal(t, "shop", byError["undecodable"].Header.Get(bus.HeaderProject), "original headers kept")
	assert.True(t, strings.HasPrefix(byError["refused"].Header.Get(bus.HeaderDLQMsgID), refused.IdentityKey()),
		"the original message id is kept")

	// The main stream is done with them: terminated, nothing pending.
	cons, err := h.pub.JetStream().Consumer(ctx, h.cfg.Stream, h.cfg.Consumer)
	require.NoError(t, err)
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, info.NumAckPending)
	assert.Zero(t, info.NumPending)

	// The tool lists and shows them.
	var out, errOut bytes.Buffer
	require.Equal(t, 0, dlq.Run(ctx, h.cfg.NATS, []string{"list"}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "events of type refused are not allowed")
	assert.Equal(t, 4, strings.Count(out.String(), "\n"), "a header and three letters:\n%s", out.String())
	out.Reset()
	refusedSeq := strconv.FormatUint(byError["refused"].Sequence, 10)
	require.Equal(t, 0, dlq.Run(ctx, h.cfg.NATS, []string{"show", refusedSeq}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), `"id":"refused-1"`)
	assert.Contains(t, out.String(), "deliveries:     3")

	// After the fix, the replayed event is stored, once, and leaves the
	// dead-letter stream.
	fix()
	out.Reset()
	require.Equal(t, 0, dlq.Run(ctx, h.cfg.NATS, []string{"replay", refusedSeq}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "replayed "+refusedSeq)
	before := dbSnapshot(t, h.pool)
	res := h.drainAll(t, c)
	assert.Equal(t, Result{Consumed: 1, Inserted: 1}, res)
	assert.Equal(t, 1, h.count(t, "SELECT count(*) FROM events WHERE id = 'refused-1'"))
	assert.NotEqual(t, before["events"], dbSnapshot(t, h.pool)["events"])
	letters, err = h.pub.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	assert.Len(t, letters, 2)
	assert.Equal(t, 1, dlq.Run(ctx, h.cfg.NATS, []string{"replay", refusedSeq}, &out, &errOut), "a replayed letter is gone")

	// Replaying the same event again (a second copy of it was in the DLQ,
	// or it is re-sent) stores nothing new.
	h.publish(t, resent(refused, now))
	after := dbSnapshot(t, h.pool)
	res = h.drainAll(t, c)
	assert.Equal(t, Result{Consumed: 1, Duplicates: 1}, res)
	assert.Equal(t, after, dbSnapshot(t, h.pool))
}

// TestSubjectTooLongForTheRollupsIsDeadLettered: an event ingest refuses
// now (a subject too long for the users' btree, which the rollups key
// users by; older ingests took it) must be isolated and dead-lettered, not
// stored where no stats answer could count it, nor retried for ever with
// the events beside it.
func TestSubjectTooLongForTheRollupsIsDeadLettered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.MaxDeliver = 2; c.BatchSize = 10 })
	c := h.consumer(t)
	now := time.Now().UTC()
	noise := make([]byte, 2400)
	for i := range noise {
		noise[i] = byte(i*7919>>3 ^ i*31)
	}
	// Incompressible text: PostgreSQL could not shrink it under its limit.
	long := base64.StdEncoding.EncodeToString(noise)
	h.publishOneEach(t,
		newEvent("shop", "ok-1", "page_view", "u1", now),
		newEvent("shop", "too-long", "page_view", long, now),
		newEvent("shop", "ok-2", "page_view", "u2", now))

	assert.Equal(t, Result{Consumed: 3, Inserted: 2, DeadLettered: 1}, h.drainAll(t, c))
	letters, err := h.pub.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, letters, 1)
	assert.Contains(t, letters[0].Error, "subject is 3200 bytes, over the limit of 1024")
	assert.Contains(t, string(letters[0].Data), `"too-long"`)
	assert.Equal(t, 2, rolluptest.Materialize(t, h.pool), "the rollups take the stored events")
}

// TestOneUnstorableEventOfAMessageOf500: the dead-letter unit is the event.
// Of a message of 500 events one can never be stored: the 499 others are
// stored once, however often the message comes back; the one is
// dead-lettered with its own error, alone; replayed after the fix it is
// stored once.
func TestOneUnstorableEventOfAMessageOf500(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.MaxDeliver = 3; c.BatchSize = 1000 })
	c := h.consumer(t)
	fix := refuseType(t, h)
	now := time.Now().UTC()
	evs := make([]*event.Event, 500)
	recs := make([]event.Record, 500)
	keys := make([]string, 500)
	for i := range evs {
		typ := "page_view"
		if i == 321 {
			typ = "refused"
		}
		evs[i] = newEvent("shop", fmt.Sprintf("m-%d", i), typ, fmt.Sprintf("u%d", i%40), now.Add(-time.Duration(i)*time.Minute))
		r, err := event.ToRecord(evs[i])
		require.NoError(t, err)
		recs[i], keys[i] = r, r.IdentityKey()
	}
	h.publishMsgs(t, bus.RecordsMsg(h.pub.EventsSubject("shop"), recs, keys))

	total := h.drainAll(t, c)
	assert.Equal(t, Result{Consumed: 3*499 + 1, Inserted: 499, Duplicates: 2 * 499, DeadLettered: 1}, total,
		"stored on the first delivery, found stored on the two that retried the refused event")
	assert.Equal(t, 499, h.count(t, "SELECT count(*) FROM events"))
	assert.Equal(t, 499, h.count(t, "SELECT count(DISTINCT (source, id)) FROM events"))
	letters, err := h.pub.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, letters, 1, "only the refused event")
	assert.Contains(t, letters[0].Error, "events of type refused are not allowed")
	assert.Contains(t, string(letters[0].Data), `"id":"m-321"`)
	assert.Equal(t, 3, letters[0].Deliveries)

	fix()
	_, err = h.pub.Replay(ctx, letters[0].Sequence)
	require.NoError(t, err)
	assert.Equal(t, Result{Consumed: 1, Inserted: 1}, h.drainAll(t, c))
	assert.Equal(t, 500, h.count(t, "SELECT count(*) FROM events"))
	assert.Equal(t, 1, h.count(t, "SELECT count(*) FROM events WHERE id = 'm-321' AND type = 'refused'"))
	_, err = h.pub.Replay(ctx, letters[0].Sequence)
	assert.Error(t, err, "a replayed letter is gone")
	assert.Equal(t, 500, rolluptest.Materialize(t, h.pool), "every stored event reaches the rollups, once")
}
