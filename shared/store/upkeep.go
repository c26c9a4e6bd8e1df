package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Upkeep does for eventfn's own tables what PostgreSQL's autovacuum does,
// wherever the server's autovacuum does not: a server running with it off
// (some do, to keep its work under an operator's hand) never analyses a
// new database's tables, so its plans stay those of empty tables and
// stores run several times slower, and never vacuums the rollup feed
// (rows inserted and deleted all day) or sets the visibility map that
// the materializer's index-only reads rely on, so every step grows
// slower. Where autovacuum runs, Upkeep only gives a table that has
// never been analysed its first statistics, which autovacuum would give
// it up to a minute later.
//
// It mirrors autovacuum's own thresholds and cost limits, read from the
// server's settings, and is safe from any number of replicas at once:
// VACUUM and ANALYZE run with SKIP_LOCKED, so a table one replica is
// working on is skipped by the others.
func Upkeep(ctx context.Context, pool *pgxpool.Pool) (UpkeepResult, error) {
	var res UpkeepResult
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("table upkeep: %w", err)
	}
	// The cost settings below are the session's: a connection that may
	// still hold them is closed rather than handed back to the pool.
	clean := false
	defer func() {
		if !clean {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}()
	var s upkeepSettings
	if err := conn.QueryRow(ctx, upkeepSettingsSQL).Scan(&s.autovacuum, &s.vacuumThreshold, &s.vacuumScale,
		&s.insertThreshold, &s.insertScale, &s.analyzeThreshold, &s.analyzeScale); err != nil {
		return res, fmt.Errorf("table upkeep: settings: %w", err)
	}
	res.AutovacuumOff = !s.autovacuum
	rows, err := conn.Query(ctx, upkeepTablesSQL)
	if err != nil {
		return res, fmt.Errorf("table upkeep: tables: %w", err)
	}
	var tables []tableStats
	var t tableStats
	if _, err := pgx.ForEachRow(rows, []any{&t.name, &t.tuples, &t.dead, &t.modified, &t.inserted, &t.analyzed, &t.autovacuumOff},
		func() error { tables = append(tables, t); return nil }); err != nil {
		return res, fmt.Errorf("table upkeep: tables: %w", err)
	}
	throttled := false
	for _, t := range tables {
		vacuum, analyze := s.due(t)
		if !vacuum && !analyze {
			continue
		}
		if !throttled {
			if _, err := conn.Exec(ctx, upkeepCostSQL); err != nil {
				return res, fmt.Errorf("table upkeep: cost limits: %w", err)
			}
			throttled = true
		}
		// The name comes from the catalog, quoted by format('%I.%I').
		sql := "ANALYZE (SKIP_LOCKED) " + t.name
		if vacuum {
			sql = "VACUUM (SKIP_LOCKED) " + t.name
			if analyze {
				sql = "VACUUM (SKIP_LOCKED, ANALYZE) " + t.name
			}
		}
		if _, err := conn.Exec(ctx, sql); err != nil {
			return res, fmt.Errorf("table upkeep: %s: %w", sql, err)
		}
		if vacuum {
			res.Vacuumed = append(res.Vacuumed, t.name)
		}
		if analyze {
			res.Analyzed = append(res.Analyzed, t.name)
		}
	}
	if throttled {
		if _, err := conn.Exec(ctx, `RESET vacuum_cost_delay; RESET vacuum_cost_limit`); err != nil {
			return res, nil // the deferred close drops the session
		}
	}
	clean = true
	return res, nil
}

// UpkeepResult says what one Upkeep did: the tables it vacuumed and
// analysed (schema-qualified, quoted as SQL needs them), and whether the
// server's autovacuum is off.
type UpkeepResult struct {
	Vacuumed, Analyzed []string
	AutovacuumOff      bool
}

// upkeepSettings are the server's autovacuum settings that decide when a
// table is due.
type upkeepSettings struct {
	autovacuum                     bool
	vacuumThreshold, vacuumScale   float64
	insertThreshold, insertScale   float64
	analyzeThreshold, analyzeScale float64
}

// tableStats is what the server counted of one table since its last
// vacuum and analyse.
type tableStats struct {
	name                     string
	tuples                   float64 // reltuples, 0 when never counted
	dead, modified, inserted float64
	analyzed, autovacuumOff  bool
}

// due applies autovacuum's rules (the PostgreSQL manual, "The Autovacuum
// Daemon") to a table autovacuum does not look after; one it does look
// after is only analysed when it never was.
func (s upkeepSettings) due(t tableStats) (vacuum, analyze bool) {
	analyze = t.modified > s.analyzeThreshold+s.analyzeScale*t.tuples
	if s.autovacuum && !t.autovacuumOff {
		return false, analyze && !t.analyzed
	}
	vacuum = t.dead > s.vacuumThreshold+s.vacuumScale*t.tuples ||
		(s.insertThreshold >= 0 && t.inserted > s.insertThreshold+s.insertScale*t.tuples)
	return vacuum, analyze
}

const upkeepSettingsSQL = `SELECT current_setting('autovacuum')::bool,
	current_setting('autovacuum_vacuum_threshold')::float8, current_setting('autovacuum_vacuum_scale_factor')::float8,
	current_setting('autovacuum_vacuum_insert_threshold')::float8, current_setting('autovacuum_vacuum_insert_scale_factor')::float8,
	current_setting('autovacuum_analyze_threshold')::float8, current_setting('autovacuum_analyze_scale_factor')::float8`

// upkeepTablesSQL lists eventfn's tables (the migrations' names, the
// partitions of events, and the eventfn_meta schema), not whatever else
// shares the database.
const upkeepTablesSQL = `SELECT format('%I.%I', s.schemaname, s.relname), greatest(c.reltuples, 0)::float8,
	s.n_dead_tup::float8, s.n_mod_since_analyze::float8, s.n_ins_since_vacuum::float8,
	s.last_analyze IS NOT NULL OR s.last_autoanalyze IS NOT NULL,
	EXISTS (SELECT 1 FROM unnest(c.reloptions) o WHERE lower(o) IN ('autovacuum_enabled=false', 'autovacuum_enabled=off', 'autovacuum_enabled=no', 'autovacuum_enabled=0'))
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = 'eventfn_meta'
   OR (s.schemaname = current_schema() AND (s.relname IN ('events', 'event_ids', 'schema_migrations') OR s.relname LIKE 'rollup\_%'))
   OR s.relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass('events'))
ORDER BY s.schemaname, s.relname`

// upkeepCostSQL makes this session's VACUUM and ANALYZE pause as
// autovacuum's do, so that upkeep takes its share of the disk and cores
// rather than all of them (a manual VACUUM never pauses by default).
const upkeepCostSQL = `SELECT set_config('vacuum_cost_delay', CASE current_setting('autovacuum_vacuum_cost_delay')
		WHEN '-1' THEN current_setting('vacuum_cost_delay') ELSE current_setting('autovacuum_vacuum_cost_delay') END, false),
	set_config('vacuum_cost_limit', CASE current_setting('autovacuum_vacuum_cost_limit')
		WHEN '-1' THEN current_setting('vacuum_cost_limit') ELSE current_setting('autovacuum_vacuum_cost_limit') END, false)`
