// Package migrations embeds eventfn's versioned SQL migrations. Files are
// named NNNN_name.sql and applied in order by store.Migrate; each runs once,
// in its own transaction. They run on plain PostgreSQL 15 and use
// TimescaleDB features only when the extension is installed.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
