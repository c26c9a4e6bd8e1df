package stats

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Reader answers validated queries for Go callers — the dashboard — with
// the engine the three stats functions answer with, so a page and the
// JSON API give the same numbers for the same query. A Query comes from
// ParseDAU, ParseTop or ParseRetention (the functions' own parsing), with
// Project set by the caller after authorization.
type Reader struct {
	engine *engine
}

// NewReader returns a Reader over pool (see OpenPool for its settings).
func NewReader(pool *pgxpool.Pool) *Reader {
	return &Reader{engine: &engine{pool: pool}}
}

// DAU answers q as stats-dau does.
func (r *Reader) DAU(ctx context.Context, q *Query) (DAUResult, error) {
	res, _, err := r.engine.dau(ctx, q)
	return res, err
}

// Top answers q as stats-top does.
func (r *Reader) Top(ctx context.Context, q *Query) (TopResult, error) {
	res, _, err := r.engine.top(ctx, q)
	return res, err
}

// Retention answers q as stats-retention does.
func (r *Reader) Retention(ctx context.Context, q *Query) (RetentionResult, error) {
	res, _, err := r.engine.retention(ctx, q)
	return res, err
}

// HasEvents reports whether any event of project was ever stored: every
// stored event's type is in the project's name dictionary, which archiving
// keeps.
func (r *Reader) HasEvents(ctx context.Context, project string) (bool, error) {
	var ok bool
	err := r.engine.pool.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM rollup_names WHERE project = $1 AND kind = 't')`, project).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("project events: %w", err)
	}
	return ok, nil
}

// ParseDAU validates the query string of a stats-dau request: every error
// is an *event.Error (CodeInvalid) whose message starts with the
// parameter's name, the same the function answers 400 with.
func ParseDAU(raw string, maxRangeDays int) (Query, error) {
	return parseQuery(kindDAU, raw, maxRangeDays)
}

// ParseTop validates the query string of a stats-top request, as ParseDAU.
func ParseTop(raw string, maxRangeDays int) (Query, error) {
	return parseQuery(kindTop, raw, maxRangeDays)
}

// ParseRetention validates the query string of a stats-retention request,
// as ParseDAU.
func ParseRetention(raw string, maxRangeDays int) (Query, error) {
	return parseQuery(kindRetention, raw, maxRangeDays)
}
