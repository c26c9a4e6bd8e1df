// Package store is eventfn's PostgreSQL adapter: the connection pool, the
// embedded migrations, and the batched, idempotent writes of events with
// their identity and rollups.
package store
