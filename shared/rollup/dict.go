package rollup

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Kinds of rollup_names entries.
const (
	NameType   = 't'
	NameSource = 's'
)

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type nameKey struct {
	project string
	kind    byte
	name    string
}

type propKey struct {
	project string
	hash    string
}

// resolveNames returns the ids of type and source names, adding the new
// ones. Inserts go in sorted order, so two transactions adding the same
// names wait for each other in one direction only.
func resolveNames(ctx context.Context, tx pgx.Tx, keys map[nameKey]uint32) error {
	projects, kinds, names := make([]string, 0, len(keys)), make([]string, 0, len(keys)), make([]string, 0, len(keys))
	for k := range keys {
		projects, kinds, names = append(projects, k.project), append(kinds, string(rune(k.kind))), append(names, k.name)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO rollup_names (project, kind, name)
		SELECT p, k::"char", n FROM unnest($1::text[], $2::text[], $3::text[]) AS u(p, k, n)
		ORDER BY p, k::"char", n
		ON CONFLICT DO NOTHING`, projects, kinds, names); err != nil {
		return fmt.Errorf("insert names: %w", err)
	}
	rows, err := tx.Query(ctx, `
		SELECT r.project, r.kind::text, r.name, r.id FROM rollup_names r
		JOIN unnest($1::text[], $2::text[], $3::text[]) AS u(p, k, n)
		  ON r.project = u.p AND r.kind = u.k::"char" AND r.name = u.n`, projects, kinds, names)
	if err != nil {
		return fmt.Errorf("read names: %w", err)
	}
	var k nameKey
	var kind string
	var id int32
	_, err = pgx.ForEachRow(rows, []any{&k.project, &kind, &k.name, &id}, func() error {
		k.kind = kind[0]
		keys[k] = uint32(id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read names: %w", err)
	}
	return nil
}

// resolveProps returns the ids of property values, adding the new ones in
// sorted order.
func resolveProps(ctx context.Context, tx pgx.Tx, vals map[propKey]PropValue, ids map[propKey]int64) error {
	n := len(vals)
	projects, hashes, keys, values := make([]string, 0, n), make([][]byte, 0, n), make([]string, 0, n), make([]string, 0, n)
	for k, v := range vals {
		projects, hashes = append(projects, k.project), append(hashes, []byte(k.hash))
		keys, values = append(keys, v.Key), append(values, v.Value)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO rollup_props (project, hash, key, value)
		SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[]) AS u(p, h, k, v)
		ORDER BY p, h
		ON CONFLICT DO NOTHING`, projects, hashes, keys, values); err != nil {
		return fmt.Errorf("insert property values: %w", err)
	}
	rows, err := tx.Query(ctx, `
		SELECT u.p, u.h, r.id FROM unnest($1::text[], $2::bytea[]) AS u(p, h)
		CROSS JOIN LATERAL (SELECT id FROM rollup_props WHERE project = u.p AND hash = u.h LIMIT 1) r`, projects, hashes)
	if err != nil {
		return fmt.Errorf("read property values: %w", err)
	}
	var project string
	var hash []byte
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&project, &hash, &id}, func() error {
		ids[propKey{project, string(hash)}] = id
		return nil
	})
	if err != nil {
		return fmt.Errorf("read property values: %w", err)
	}
	return nil
}

// LookupNames returns the ids of the project's names of a kind (NameType
// or NameSource); unknown names are absent from the map.
func LookupNames(ctx context.Context, q Querier, project string, kind byte, names []string) (map[string]uint32, error) {
	rows, err := q.Query(ctx, `SELECT name, id FROM rollup_names WHERE project = $1 AND kind = $2::text::"char" AND name = ANY($3)`,
		project, string(rune(kind)), names)
	if err != nil {
		return nil, fmt.Errorf("look up names: %w", err)
	}
	out := map[string]uint32{}
	var name string
	var id int32
	_, err = pgx.ForEachRow(rows, []any{&name, &id}, func() error {
		out[name] = uint32(id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up names: %w", err)
	}
	return out, nil
}

// NameIDs returns the names of ids (types or sources) of a project.
func NameIDs(ctx context.Context, q Querier, project string, ids []int32) (map[uint32]string, error) {
	rows, err := q.Query(ctx, `SELECT id, name FROM rollup_names WHERE project = $1 AND id = ANY($2)`, project, ids)
	if err != nil {
		return nil, fmt.Errorf("name ids: %w", err)
	}
	out := map[uint32]string{}
	var id int32
	var name string
	_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error {
		out[uint32(id)] = name
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("name ids: %w", err)
	}
	return out, nil
}

// LookupProps returns the ids of the property values that exist in the
// project; values no event ever had are left out.
func LookupProps(ctx context.Context, q Querier, project string, vals []PropValue) ([]int64, error) {
	hashes := make([][]byte, len(vals))
	for i, v := range vals {
		hashes[i] = v.Hash()
	}
	rows, err := q.Query(ctx, `SELECT id FROM rollup_props WHERE project = $1 AND hash = ANY($2)`, project, hashes)
	if err != nil {
		return nil, fmt.Errorf("look up property values: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("look up property values: %w", err)
	}
	return ids, nil
}
