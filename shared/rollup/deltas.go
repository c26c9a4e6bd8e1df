package rollup

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

type member struct {
	g   groupKey
	day Day
}

type typeDayKey struct {
	project string
	day     Day
	typeID  uint32
}

type gapKey struct {
	project string
	day     Day
	typeID  uint32
	prev    Day
}

type activeKey struct {
	project string
	grain   Grain
	typeID  uint32
	bucket  Day
}

type retKey struct {
	project        string
	grain          Grain
	cohort, bucket Day
}

// deltas are changes to the calendar rollups of one zone: new
// rollup_user_days rows and increments of the counters.
type deltas struct {
	members   []member
	typeDays  map[typeDayKey]int64
	gaps      map[gapKey]int64
	active    map[activeKey]int64
	retention map[retKey]int64
}

func newDeltas() *deltas {
	return &deltas{
		typeDays:  map[typeDayKey]int64{},
		gaps:      map[gapKey]int64{},
		active:    map[activeKey]int64{},
		retention: map[retKey]int64{},
	}
}

// write applies d to the zone's tables: the new rollup_user_days rows by
// COPY (they are new: Apply read the users' days under the writer lock),
// then the counters in one round trip, each statement in key order. The
// two are timed on clk (nil: not timed).
func (d *deltas) write(ctx context.Context, tx pgx.Tx, tz string, clk *clock) error {
	defer clk.lap(PhaseCounters)
	if len(d.members) > 0 {
		// In key order: inserting into the primary key's btree in order
		// touches each leaf page once, not once per row.
		slices.SortFunc(d.members, func(a, b member) int {
			if c := cmp.Compare(a.g.project, b.g.project); c != 0 {
				return c
			}
			if c := cmp.Compare(a.g.uid, b.g.uid); c != 0 {
				return c
			}
			if c := cmp.Compare(a.g.typeID, b.g.typeID); c != 0 {
				return c
			}
			return cmp.Compare(a.day, b.day)
		})
		i := 0
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(d.members) {
				return nil, nil
			}
			m := d.members[i]
			i++
			return []any{m.g.project, tz, int32(m.g.uid), int32(m.g.typeID), int32(m.day)}, nil
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"rollup_user_days"}, []string{"project", "tz", "uid", "type_id", "day"}, src); err != nil {
			return fmt.Errorf("write active days (%s): %w", tz, err)
		}
		clk.lap(PhaseUserDays)
	}
	b := &pgx.Batch{}
	if n := len(d.typeDays); n > 0 {
		p, day, t, v := make([]string, 0, n), make([]int32, 0, n), make([]int32, 0, n), make([]int64, 0, n)
		for k, x := range d.typeDays {
			p, day, t, v = append(p, k.project), append(day, int32(k.day)), append(t, int32(k.typeID)), append(v, x)
		}
		b.Queue(`INSERT INTO rollup_type_days AS r (project, tz, day, type_id, events)
			SELECT p, $1, d, t, v FROM unnest($2::text[], $3::int[], $4::int[], $5::bigint[]) AS x(p, d, t, v)
			ORDER BY p, d, t
			ON CONFLICT (project, tz, day, type_id) DO UPDATE SET events = r.events + excluded.events`, tz, p, day, t, v)
	}
	if len(d.gaps) > 0 {
		queuePrevLocks(b, tz, d.gaps)
	}
	prevs := b.Len()
	if n := len(d.active); n > 0 {
		p, g, t, bucket, v := make([]string, 0, n), make([]string, 0, n), make([]int32, 0, n), make([]int32, 0, n), make([]int64, 0, n)
		for k, x := range d.active {
			p, g, t, bucket, v = append(p, k.project), append(g, string(rune(k.grain))), append(t, int32(k.typeID)), append(bucket, int32(k.bucket)), append(v, x)
		}
		b.Queue(`INSERT INTO rollup_active AS r (project, tz, grain, type_id, bucket, users)
			SELECT p, $1, g::"char", t, b, v FROM unnest($2::text[], $3::text[], $4::int[], $5::int[], $6::bigint[]) AS x(p, g, t, b, v)
			ORDER BY p, g::"char", t, b
			ON CONFLICT (project, tz, grain, type_id, bucket) DO UPDATE SET users = r.users + excluded.users`, tz, p, g, t, bucket, v)
	}
	if n := len(d.retention); n > 0 {
		p, g, c, bucket, v := make([]string, 0, n), make([]string, 0, n), make([]int32, 0, n), make([]int32, 0, n), make([]int64, 0, n)
		for k, x := range d.retention {
			if x == 0 {
				continue
			}
			p, g, c, bucket, v = append(p, k.project), append(g, string(rune(k.grain))), append(c, int32(k.cohort)), append(bucket, int32(k.bucket)), append(v, x)
		}
		b.Queue(`INSERT INTO rollup_retention AS r (project, tz, grain, cohort, bucket, users)
			SELECT p, $1, g::"char", c, b, v FROM unnest($2::text[], $3::text[], $4::int[], $5::int[], $6::bigint[]) AS x(p, g, c, b, v)
			ORDER BY p, g::"char", c, b
			ON CONFLICT (project, tz, grain, cohort, bucket) DO UPDATE SET users = r.users + excluded.users`, tz, p, g, c, bucket, v)
	}
	if b.Len() == 0 {
		return nil
	}
	br := tx.SendBatch(ctx, b)
	var current map[prevKey][]byte
	for i := 0; i < b.Len(); i++ {
		if len(d.gaps) > 0 && i == prevs-1 {
			rows, err := br.Query()
			if err == nil {
				current, err = readPrevs(rows)
			}
			if err != nil {
				_ = br.Close()
				return fmt.Errorf("write rollups (%s): lock prevs: %w", tz, err)
			}
			continue
		}
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("write rollups (%s): %w", tz, err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("write rollups (%s): %w", tz, err)
	}
	if len(d.gaps) > 0 {
		return updatePrevs(ctx, tx, tz, d.gaps, current)
	}
	return nil
}
