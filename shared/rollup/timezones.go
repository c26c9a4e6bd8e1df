package rollup

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"
	_ "time/tzdata" // zone data in the binary: days must not depend on the host

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// zonesLockKey is the rollups' writer lock, held exclusively for its
// transaction by every Apply and by adding or rebuilding a zone: the
// rollups have one writer at a time. So a zone's rollups are built from the
// stored events while no Apply runs, every Apply after sees the zone, and
// an Apply reads the rows it changes knowing no one else changes them.
const zonesLockKey = 0x726f6c6c7570 // "rollup"

type zone struct {
	name string
	loc  *time.Location
}

// locations caches loaded zones; a location never changes.
var locations sync.Map

// zoneName is the shape of an IANA zone name. time.LoadLocation also takes
// other spellings of a file's path ("./UTC", "Etc//UTC"), endless in
// number: each would be a cache entry of its own.
var zoneName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)

// LoadZone returns the IANA zone name ("UTC", "Europe/Kyiv"). It refuses
// "" and "Local", which mean nothing outside this process, and any name
// not spelt as IANA names are.
func LoadZone(name string) (*time.Location, error) {
	if v, ok := locations.Load(name); ok {
		return v.(*time.Location), nil
	}
	if name == "Local" || len(name) > 64 || !zoneName.MatchString(name) {
		return nil, fmt.Errorf("%q is not an IANA time zone", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone", name)
	}
	locations.Store(name, loc)
	return loc, nil
}

// lockZones takes the rollups' writer lock for the transaction and returns
// the registered zones, sorted.
func lockZones(ctx context.Context, tx pgx.Tx) ([]zone, error) {
	rows, err := tx.Query(ctx, `SELECT tz FROM eventfn_meta.rollup_timezones, pg_advisory_xact_lock($1) ORDER BY tz`, int64(zonesLockKey))
	if err != nil {
		return nil, fmt.Errorf("rollup zones: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("rollup zones: %w", err)
	}
	zones := make([]zone, len(names))
	for i, n := range names {
		loc, err := LoadZone(n)
		if err != nil {
			return nil, fmt.Errorf("rollup zones: %w", err)
		}
		zones[i] = zone{n, loc}
	}
	return zones, nil
}

// Timezones returns the zones whose calendar rollups are complete, sorted.
func Timezones(ctx context.Context, q Querier) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT tz FROM eventfn_meta.rollup_timezones ORDER BY tz`)
	if err != nil {
		return nil, fmt.Errorf("rollup zones: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("rollup zones: %w", err)
	}
	return names, nil
}

// EnsureTimezones registers every zone of names not registered yet. Each
// new zone's rollups are first built from every stored event (Rebuild),
// in one transaction holding the zone lock exclusively: Apply calls wait
// meanwhile, and those after it maintain the zone too. Zones are never
// removed here. Errors name the zone.
func EnsureTimezones(ctx context.Context, pool *pgxpool.Pool, names []string) error {
	have, err := Timezones(ctx, pool)
	if err != nil {
		return err
	}
	for _, name := range names {
		if slices.Contains(have, name) {
			continue
		}
		if _, err := LoadZone(name); err != nil {
			return err
		}
		err := withZonesLocked(ctx, pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO eventfn_meta.rollup_timezones (tz) VALUES ($1) ON CONFLICT DO NOTHING`, name)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return nil // another replica added it meanwhile
			}
			return Rebuild(ctx, tx, name)
		})
		if err != nil {
			return fmt.Errorf("add rollup zone %s: %w", name, err)
		}
	}
	return nil
}

// ErrZoneNotRegistered is RebuildTimezones' answer for a zone that has no
// calendar rollups to rebuild.
var ErrZoneNotRegistered = errors.New("has no calendar rollups (list it in ROLLUP_TIMEZONES to add it)")

// RebuildTimezones replaces the calendar rollups of each registered zone
// of names (all registered zones when names is empty) with the ones
// Rebuild computes from the columns, zone by zone, each in a transaction
// holding the zone lock exclusively, so consumers wait and count nothing
// twice or never. It is the repair for rollups written by a version with a
// bug since fixed; the columns and dictionaries are kept. It returns the
// zones rebuilt; an error names its zone.
func RebuildTimezones(ctx context.Context, pool *pgxpool.Pool, names []string) ([]string, error) {
	have, err := Timezones(ctx, pool)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		names = have
	}
	for _, name := range names {
		if !slices.Contains(have, name) {
			return nil, fmt.Errorf("zone %q %w", name, ErrZoneNotRegistered)
		}
	}
	var done []string
	for _, name := range names {
		err := withZonesLocked(ctx, pool, func(tx pgx.Tx) error { return Rebuild(ctx, tx, name) })
		if err != nil {
			return done, fmt.Errorf("rebuild rollup zone %s: %w", name, err)
		}
		done = append(done, name)
	}
	return done, nil
}

// withZonesLocked runs fn in a transaction holding the zone lock
// exclusively: no Apply runs meanwhile, and every Apply after it sees what
// fn committed.
func withZonesLocked(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(zonesLockKey)); err != nil {
			return err
		}
		return fn(tx)
	})
}

// bumpVersion counts a change of the calendar rollups in tx
// (rollup_version) and returns the new count, so that readers keeping
// answers of rollup_user_days know they may be stale. Callers hold the
// writer lock, so the row is never contended.
func bumpVersion(ctx context.Context, tx pgx.Tx) (int64, error) {
	var n int64
	// An upsert: the row is made by the migration, but a table emptied by
	// hand must not stop the rollups.
	if err := tx.QueryRow(ctx, `INSERT INTO rollup_version (one, n) VALUES (true, 1)
		ON CONFLICT (one) DO UPDATE SET n = rollup_version.n + 1 RETURNING n`).Scan(&n); err != nil {
		return 0, fmt.Errorf("rollup version: %w", err)
	}
	return n, nil
}

// Version returns the count of changes of the calendar rollups that q's
// snapshot sees: two snapshots seeing the same count see the same
// rollup_user_days.
func Version(ctx context.Context, q Querier) (int64, error) {
	rows, err := q.Query(ctx, `SELECT coalesce((SELECT n FROM rollup_version), 0)`)
	if err != nil {
		return 0, fmt.Errorf("rollup version: %w", err)
	}
	n, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("rollup version: %w", err)
	}
	return n, nil
}
