package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// redisLog takes go-redis's own log lines (a dial that failed after its
// retries, a connection that could not be closed), which it otherwise
// prints as plain text on stderr among the JSON logs, and writes them
// through the function's JSON logger.
type redisLog struct{ log *slog.Logger }

// Printf implements go-redis's internal.Logging.
func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	r.log.WarnContext(ctx, strings.TrimPrefix(msg, "redis: "), "library", "go-redis")
}
