package stats

import (
	"context"

	"github.com/eventfn/eventfn/shared/serve"
)

// NewColumnsOnly builds the named stats function with the rollup path
// turned off, so tests can hold both paths to the same answers.
func NewColumnsOnly(ctx context.Context, name string, cfg Config, deps serve.Deps) (*serve.Function, error) {
	k := map[string]kind{"stats-dau": kindDAU, "stats-top": kindTop, "stats-retention": kindRetention}[name]
	return build(ctx, k, cfg, deps, true)
}
