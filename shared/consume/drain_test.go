package consume

import (
	"context"
	"fmt"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/event"
	"github.com/eventfn/eventfn/shared/testenv"
)

func TestDrainStoresEachIdentityOnceAcrossBatchesAndTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.BatchSize = 4 })
	c := h.consumer(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	late := now.AddDate(0, 0, -60)

	var evs []*event.Event
	for i := range 10 {
		evs = append(evs, newEvent("shop", fmt.Sprintf("e%d", i), "page_view", "u1", now))
	}
	evs = append(evs,
		resent(evs[0], now),                             // same event again, batches later
		resent(evs[1], now),                             //
		resent(evs[2], late),                            // re-sent with another time: still the same identity
		newEvent("shop", "late", "signup", "u2", late),  // a new event 60 days old
		newEvent("other", "e0", "page_view", "u1", now), // same id in another project: another identity
	)
	h.publish(t, evs...)

	res, err := c.Drain(context.Background())
	require.NoError(t, err)
	assert.Equal(t, Result{Consumed: 15, Inserted: 12, Duplicates: 3, Pending: 0}, res)
	assert.Equal(t, 12, h.count(t, "SELECT count(*) FROM events"))
	assert.Equal(t, 12, h.count(t, "SELECT count(*) FROM event_ids"))
	assert.Equal(t, 1, h.count(t, "SELECT count(*) FROM events WHERE project='shop' AND id='e2' AND time=$1", now),
		"the first stored version of e2 is kept, not the re-send's time")
	assert.Equal(t, 1, h.count(t, "SELECT count(*) FROM events WHERE id='late' AND time=$1", late),
		"the 60-day-old event is stored at its own time")

	// The same events once more, later: nothing changes anywhere.
	before := dbSnapshot(t, h.pool)
	h.publish(t, resent(evs[0], now), resent(evs[12], late), resent(evs[13], now))
	res, err = c.Drain(context.Background())
	require.NoError(t, err)
	assert.Equal(t, Result{Consumed: 3, Duplicates: 3}, res)
	assert.Equal(t, before, dbSnapshot(t, h.pool), "tables %s", tableNames(before))
}

// TestDrainKeepsTheEarliestTime stores an event sent with the earliest
// time there is, which the CloudEvents SDK's Time() cannot tell from none:
// it keeps its own time, not its receive time.
func TestDrainKeepsTheEarliestTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	c := h.consumer(t)
	first := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := newEvent("shop", "year-one", "page_view", "u1", time.Now())
	// SetTime takes the zero time for "none"; ingest sets it as decoded.
	ev.CE.Context.(*cloudevents.EventContextV1).Time = &types.Timestamp{Time: first}
	h.publish(t, ev)
	res, err := c.Drain(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, res.Inserted)
	assert.Equal(t, 1, h.count(t, "SELECT count(*) FROM events WHERE id='year-one' AND time=$1", first))
}

func TestDrainStopsAtMaxEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), func(c *Config) { c.BatchSize = 3; c.MaxEvents = 5 })
	c := h.consumer(t)
	now := time.Now().UTC()
	for i := range 8 {
		h.publish(t, newEvent("shop", fmt.Sprintf("e%d", i), "page_view", "u1", now))
	}
	res, err := c.Drain(context.Background())
	require.NoError(t, err)
	assert.Equal(t, Result{Consumed: 5, Inserted: 5, Pending: 3}, res)
	res, err = c.Drain(context.Background())
	require.NoError(t, err)
	assert.Equal(t, Result{Consumed: 3, Inserted: 3, Pending: 0}, res)
}

// TestDrainRightAfterPublishTakesEverything: a drain triggered the moment
// the stream acknowledged the events (a schedule racing an ingest) does
// not stop before the consumer has them.
func TestDrainRightAfterPublishTakesEverything(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testenv.NATSURL(), nil)
	c := h.consumer(t)
	now := time.Now().UTC()
	for round := range 5 {
		var evs []*event.Event
		for i := range 20 {
			evs = append(evs, newEvent("shop", fmt.Sprintf("r%d-%d", round, i), "page_view", "u1", now))
		}
		h.publish(t, evs...)
		res, err := c.Drain(context.Background())
		require.NoError(t, err)
		assert.Equal(t, Result{Consumed: 20, Inserted: 20}, res, "round %d", round)
	}
}

// TestOldAndNewFormatsDrainExactlyOnce: after an upgrade a stream holds
// messages of the one-event format of earlier versions and of the records
// format, interleaved, some identities in both. Draining stores each
// identity once, and an event stores the same row whichever format carried
// it.
func TestOldAndNewFormatsDrainExactlyOnce(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var evs []*event.Event
	for i := range 60 {
		ev := newEvent([]string{"shop", "other"}[i%2], fmt.Sprintf("e%d", i), fmt.Sprintf("type_%d", i%3), fmt.Sprintf("u%d", i%9),
			now.Add(-time.Duration(i)*37*time.Minute))
		switch i % 5 {
		case 1:
			ev.CE.SetSubject("") // anonymous
		case 2:
			_ = ev.CE.SetData("text/plain", []byte("not properties"))
		case 3:
			ev.CE.SetExtension("traceparent", "00-abc-def-01")
			ev.CE.SetExtension("tenantid", 7)
		}
		evs = append(evs, ev)
	}

	mixed := newHarness(t, testenv.NATSURL(), func(c *Config) { c.BatchSize = 7 })
	mixed.publishOneEach(t, evs[:20]...)
	mixed.publish(t, evs[10:40]...) // 10-19 again, in the new format
	mixed.publishOneEach(t, evs[40:]...)
	mixed.publish(t, evs[35:45]...)
	res := mixed.drainAll(t, mixed.consumer(t))
	assert.Equal(t, Result{Consumed: 80, Inserted: 60, Duplicates: 20}, res)
	assert.Equal(t, 60, mixed.count(t, "SELECT count(*) FROM events"))

	// The same events in one format each: the rows are the same.
	for _, publish := range []func(*harness){
		func(h *harness) { h.publishOneEach(t, evs...) },
		func(h *harness) { h.publish(t, evs...) },
	} {
		h := newHarness(t, testenv.NATSURL(), nil)
		publish(h)
		assert.Equal(t, Result{Consumed: 60, Inserted: 60}, h.drainAll(t, h.consumer(t)))
		assert.Equal(t, pick(dbSnapshot(t, mixed.pool), identityTables), pick(dbSnapshot(t, h.pool), identityTables))
	}
}
