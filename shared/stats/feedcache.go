package stats

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
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
	// typeIdx is typ's position in its part's types.
	typeIdx uint32
	source  string
}

// feedPart is one feed row's events. Their properties are read only for
// a query that filters on them, and then only the keys it filters on:
// most queries filter on nothing, and parsing every event's every
// property was most of what a filtered query over a long tail cost.
type feedPart struct {
	evs []feedEvent
	// types are the part's distinct event types: a tail gives each an id
	// once per part rather than once per event.
	types []string
	// raw are the events' properties as stored (JSON).
	raw [][]byte
	// values[key] holds each event's value of key (rollup.PropValueOf,
	// "" for none), once a query filtered on key.
	valuesMu sync.Mutex
	values   map[string][]string
	// stored holds, per event, its user's id once a tail found the user
	// stored (0 until then): such an id never changes, so that a tail
	// built again after a materialization step, as every query's is then,
	// need not look the subject up again.
	storedOnce sync.Once
	stored     []atomic.Uint32
}

// storedUIDs returns the part's stored ids (feedPart.stored).
func (p *feedPart) storedUIDs() []atomic.Uint32 {
	p.storedOnce.Do(func() { p.stored = make([]atomic.Uint32, len(p.evs)) })
	return p.stored
}

// valuesOf returns each event's value of property key as
// rollup.PropValue holds it ("" when it has none), reading them on the
// first call for key.
func (p *feedPart) valuesOf(key string) []string {
	p.valuesMu.Lock()
	defer p.valuesMu.Unlock()
	if v, ok := p.values[key]; ok {
		return v
	}
	v := make([]string, len(p.raw))
	for i, b := range p.raw {
		v[i], _ = rollup.PropValueOf(b, key)
	}
	if p.values == nil {
		p.values = map[string][]string{}
	}
	p.values[key] = v
	return v
}

// feedCache keeps feed rows decoded, so that each is decoded (and its
// properties parsed, when a query needs them) once per process rather than
// once per query: while the rollups are behind, every query reads the
// whole tail, and decoding it was most of such a query's time. A feed row never changes (it is
// written once and deleted when materialized) and its seq is never given
// again in one database, so an entry keyed by the database's instance id
// and the seq is never stale: rows the query's snapshot does not list are
// simply not asked for. Bounded by events held; the lowest seqs, the next
// to be materialized, go first. Safe for concurrent use; one per process.
type feedCache struct {
	mu     sync.Mutex
	rows   map[feedKey]*feedPart
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
func (c *feedCache) read(ctx context.Context, tx pgx.Tx, instance, project string, rows []rollup.FeedRow) ([]*feedPart, error) {
	out := make([]*feedPart, len(rows))
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
	decoded := make(map[int64]*feedPart, len(read))
	for seq, evs := range read {
		decoded[seq] = toFeedPart(evs)
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
func (c *feedCache) put(k feedKey, part *feedPart) {
	if c.rows == nil {
		c.rows = map[feedKey]*feedPart{}
	}
	if _, ok := c.rows[k]; ok {
		return
	}
	c.rows[k] = part
	c.events += len(part.evs)
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
		c.events -= len(c.rows[k].evs)
		delete(c.rows, k)
	}
}

func toFeedPart(evs []rollup.Event) *feedPart {
	p := &feedPart{evs: make([]feedEvent, len(evs)), raw: make([][]byte, len(evs))}
	index := map[string]uint32{}
	for i, e := range evs {
		at := e.Time.Unix()
		d := rollup.DayOf(e.Time, time.UTC)
		k, ok := index[e.Type]
		if !ok {
			k = uint32(len(p.types))
			index[e.Type] = k
			p.types = append(p.types, e.Type)
		}
		p.evs[i] = feedEvent{at: at, utcDay: d, sec: uint32(at - int64(d)*86400), subject: e.Subject, typ: e.Type, typeIdx: k, source: e.Source}
		p.raw[i] = e.Props
	}
	return p
}
