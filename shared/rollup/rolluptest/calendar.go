// Package rolluptest holds what tests of several packages check the
// rollup tables with.
package rolluptest

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/rollup"
)

// Calendar fingerprints the calendar rollups of zone tz: each table's rows
// as text, sorted, leaving out counters that are zero (an incremental
// write may leave them behind; a rebuild writes none), so that two ways of
// computing a zone's rollups compare equal exactly when they agree.
// Users are named by subject, not id: ids follow the order in which
// concurrent materialization steps commit, which two databases fed the
// same events need not share.
func Calendar(t testing.TB, q rollup.Querier, tz string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, cols := range map[string]string{
		"rollup_user_days":  "project, coalesce(u.subject, '#' || uid), type_id, day",
		"rollup_type_days":  "project, day, type_id, events",
		"rollup_type_prevs": "project, day, type_id, encode(pairs, 'hex')",
		"rollup_active":     "project, grain, type_id, bucket, users",
		"rollup_retention":  "project, grain, cohort, bucket, users",
	} {
		where, from := "tz = $1", table
		if table == "rollup_user_days" {
			from += " LEFT JOIN rollup_users u USING (project, uid)"
		}
		switch table {
		case "rollup_active", "rollup_retention":
			where += " AND users <> 0"
		case "rollup_type_prevs":
			where += " AND pairs <> ''"
		}
		rows, err := q.Query(context.Background(), fmt.Sprintf("SELECT (%s)::text FROM %s WHERE %s ORDER BY 1", cols, from, where), tz)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		out[table] = got
	}
	return out
}

// Materialize moves the whole rollup feed of the database behind pool into
// the rollups, as consume-batch's materializer does, and returns the events
// it moved.
func Materialize(t testing.TB, pool *pgxpool.Pool) int {
	t.Helper()
	return Drain(t, rollup.NewMaterializer(pool, 0))
}

// Drain runs m until the feed holds nothing m can take (as consume-batch
// does: two steps in flight), and returns the events it moved.
func Drain(t testing.TB, m *rollup.Materializer) int {
	t.Helper()
	n, err := m.Drain(context.Background(), nil)
	require.NoError(t, err)
	return n
}
