package stats

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventfn/eventfn/shared/rollup"
)

// feedEvent is one feed event as a tail needs it, before it gets the ids
// of the query's snapshot.
type feedEvent struct {
	at      int64
	utcDay  rollup.Day
	sec     uint32
	subject string
	typ     string
	source  string
	props   []rollup.PropValue
}

// feedCache keeps feed rows decoded, so that each is decoded (and its
// properties parsed) once per process rather than once per query: while
// the rollups are behind, every query reads the whole tail, and decoding
// it was most of such a query's time. A feed row never changes (it is
// written once and deleted when materialized) and its seq is never given
// again in one database, so an entry keyed by the database's instance id
// and the seq is never stale: rows the query's snapshot does not list are
// simply not asked for. Bounded by events held; the lowest seqs, the next
// to be materialized, go first. Safe for concurrent use; one per process.
type feedCache struct {
	mu     sync.Mutex
	rows   map[feedKey][]feedEvent
	events int
	limit  int
}

type feedKey struct {
	instance string
	seq      int64
}

// decodedFeed is the process's cache: some 250k events, about the feed the
// consumers' hold allows (ROLLUP_MAX_BACKLOG_EVENTS) and tens of MB.
var decodedFeed = &feedCache{limit: 250_000}

// read returns the events of the project's feed rows, from the cache or
// read in tx and kept.
func (c *feedCache) read(ctx context.Context, tx pgx.Tx, instance, project string, rows []rollup.FeedRow) ([][]feedEvent, error) {
	out := make([][]feedEvent, len(rows))
	var missing []int64
	c.mu.Lock()
	for i, r := range rows {
		evs, ok := c.rows[feedKey{instance, r.Seq}]
		if !ok {
			missing = append(missing, r.Seq)
		}
		out[i] = evs
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	read, err := rollup.ReadFeedRows(ctx, tx, project, missing)
	if err != nil {
		return nil, err
	}
	decoded := make(map[int64][]feedEvent, len(read))
	for seq, evs := range read {
		decoded[seq] = toFeedEvents(evs)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for seq, evs := range decoded {
		c.put(feedKey{instance, seq}, evs)
	}
	for i, r := range rows {
		if evs, ok := decoded[r.Seq]; ok {
			out[i] = evs
		}
	}
	return out, nil
}

// put keeps one row; c.mu is held.
func (c *feedCache) put(k feedKey, evs []feedEvent) {
	if c.rows == nil {
		c.rows = map[feedKey][]feedEvent{}
	}
	if _, ok := c.rows[k]; ok {
		return
	}
	c.rows[k] = evs
	c.events += len(evs)
	if c.events <= c.limit {
		return
	}
	// Down to half the limit, lowest seqs first: one sort per half a
	// cache's worth of rows.
	keys := make([]feedKey, 0, len(c.rows))
	for k := range c.rows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b feedKey) int { return cmp.Compare(a.seq, b.seq) })
	for _, k := range keys {
		if c.events <= c.limit/2 {
			break
		}
		c.events -= len(c.rows[k])
		delete(c.rows, k)
	}
}

func toFeedEvents(evs []rollup.Event) []feedEvent {
	out := make([]feedEvent, len(evs))
	for i, e := range evs {
		at := e.Time.Unix()
		d := rollup.DayOf(e.Time, time.UTC)
		out[i] = feedEvent{
			at: at, utcDay: d, sec: uint32(at - int64(d)*86400),
			subject: e.Subject, typ: e.Type, source: e.Source, props: rollup.EventProps(e.Props),
		}
	}
	return out
}
