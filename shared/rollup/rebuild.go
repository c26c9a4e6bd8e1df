package rollup

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Rebuild computes the calendar rollups of zone tz from scratch, from the
// columns of every stored event, replacing what tx holds for tz. It is how
// a zone is added (EnsureTimezones) and how bulk loads build rollups; it
// shares no code with Apply's incremental path, so each checks the other.
// The caller must keep Apply out meanwhile (the zone lock, or a load with
// no consumer). Memory grows with the largest project's events (about 16
// bytes per event).
func Rebuild(ctx context.Context, tx pgx.Tx, tz string) error {
	loc, err := LoadZone(tz)
	if err != nil {
		return err
	}
	if _, err := bumpVersion(ctx, tx); err != nil {
		return err
	}
	for _, table := range []string{"rollup_user_days", "rollup_type_days", "rollup_type_prevs", "rollup_active", "rollup_retention"} {
		if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE tz = $1", tz); err != nil {
			return fmt.Errorf("rebuild %s: clear %s: %w", tz, table, err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT project FROM rollup_cols ORDER BY project`)
	if err != nil {
		return fmt.Errorf("rebuild %s: projects: %w", tz, err)
	}
	projects, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("rebuild %s: projects: %w", tz, err)
	}
	for _, p := range projects {
		if err := rebuildProject(ctx, tx, tz, loc, p); err != nil {
			return fmt.Errorf("rebuild %s: project %s: %w", tz, p, err)
		}
	}
	return nil
}

// activity is one (user, type, local day); type 0 stands for any type.
type activity struct {
	uid, typeID uint32
	day         Day
}

func rebuildProject(ctx context.Context, tx pgx.Tx, tz string, loc *time.Location, project string) error {
	rows, err := tx.Query(ctx, `SELECT key, day, uids, secs FROM rollup_cols WHERE project = $1 AND kind = 't'`, project)
	if err != nil {
		return err
	}
	typeDays := map[typeDayKey]int64{}
	var acts []activity
	var key int64
	var utcDay int32
	var uids, secs []byte
	cut := NewDayCutter(loc)
	if _, err := pgx.ForEachRow(rows, []any{&key, &utcDay, &uids, &secs}, func() error {
		typeID := uint32(key)
		for i := 0; i+4 <= len(uids); i += 4 {
			day := cut.Day(Day(utcDay), binary.LittleEndian.Uint32(secs[i:]))
			typeDays[typeDayKey{project, day, typeID}]++
			if uid := binary.LittleEndian.Uint32(uids[i:]); uid != 0 {
				acts = append(acts, activity{uid, typeID, day}, activity{uid, 0, day})
			}
		}
		return nil
	}); err != nil {
		return err
	}
	slices.SortFunc(acts, func(a, b activity) int {
		if a.uid != b.uid {
			return cmpU32(a.uid, b.uid)
		}
		if a.typeID != b.typeID {
			return cmpU32(a.typeID, b.typeID)
		}
		return int(a.day) - int(b.day)
	})
	acts = slices.Compact(acts)

	d := newDeltas()
	d.typeDays = typeDays
	for i := 0; i < len(acts); {
		j := i
		for j < len(acts) && acts[j].uid == acts[i].uid && acts[j].typeID == acts[i].typeID {
			j++
		}
		k := groupKey{project, acts[i].uid, acts[i].typeID}
		group := acts[i:j]
		for _, g := range activeGrains {
			prev := NoDay
			for _, a := range group {
				if b := g.Bucket(a.day); b != prev {
					d.active[activeKey{project, g, k.typeID, b}]++
					prev = b
				}
			}
		}
		if k.typeID != 0 {
			prev := NoDay
			for _, a := range group {
				d.gaps[gapKey{project, a.day, k.typeID, prev}]++
				prev = a.day
			}
		} else {
			for _, g := range retentionGrains {
				cohort, prev := g.Bucket(group[0].day), NoDay
				for _, a := range group {
					if b := g.Bucket(a.day); b != prev {
						d.retention[retKey{project, g, cohort, b}]++
						prev = b
					}
				}
			}
		}
		i = j
	}
	n := 0
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"rollup_user_days"}, []string{"project", "tz", "uid", "type_id", "day"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if n == len(acts) {
				return nil, nil
			}
			a := acts[n]
			n++
			return []any{project, tz, int32(a.uid), int32(a.typeID), int32(a.day)}, nil
		})); err != nil {
		return fmt.Errorf("copy active days: %w", err)
	}
	return d.write(ctx, tx, tz, nil)
}

func cmpU32(a, b uint32) int {
	if a < b {
		return -1
	}
	return 1
}

// DayCutter maps a second of a UTC day to the local day in one zone,
// computing each UTC day's local midnights once: fast when consecutive
// calls share their UTC day.
type DayCutter struct {
	loc  *time.Location
	utc  Day
	cuts []Cut
}

// Cut says: from second From of the UTC day on, the local day is Day.
type Cut struct {
	From uint32
	Day  Day
}

// NewDayCutter returns a DayCutter for loc.
func NewDayCutter(loc *time.Location) *DayCutter { return &DayCutter{loc: loc, utc: NoDay} }

// Day returns the local day of second sec of the UTC day utc.
func (c *DayCutter) Day(utc Day, sec uint32) Day {
	if utc != c.utc {
		c.utc, c.cuts = utc, DayCuts(utc, c.loc)
	}
	d := c.cuts[0].Day
	for _, x := range c.cuts[1:] {
		if sec < x.From {
			break
		}
		d = x.Day
	}
	return d
}

// DayCuts returns where the local days of loc begin within the UTC day
// utc: the first entry (From 0) is the local day at the UTC day's start,
// and each further entry where the local day changes inside the UTC day:
// at a local midnight, or where the offset changes across one. The days
// need not ascend: where clocks fell back across midnight (America/
// Goose_Bay at 00:01 until 2010) the day before begins again.
func DayCuts(utc Day, loc *time.Location) []Cut {
	start, end := int64(utc)*86400, int64(utc+1)*86400
	var out []Cut
	// One offset holds from t to the end of its zone period (or of the
	// UTC day); within it the local day changes at each local midnight.
	for t := start; t < end; {
		at := time.Unix(t, 0).In(loc)
		_, off := at.Zone()
		periodEnd := end
		if _, next := at.ZoneBounds(); !next.IsZero() && next.Unix() > t && next.Unix() < end {
			periodEnd = next.Unix()
		}
		for s := t; s < periodEnd; {
			day := Day(floorDiv(s+int64(off), 86400))
			if len(out) == 0 || out[len(out)-1].Day != day {
				out = append(out, Cut{uint32(s - start), day})
			}
			s = (int64(day)+1)*86400 - int64(off)
		}
		t = periodEnd
	}
	return out
}
