// Package consume is the consume-batch function (contract §5): it moves
// events from the durable JetStream pull consumer into PostgreSQL, each
// (project, source, id) stored at most once, with the rollups updated in
// the same transaction from the rows really inserted.
//
// Delivery rules:
//   - A message is acknowledged only after the transaction holding its row
//     committed; a crash anywhere means redelivery, which store.InsertEvents
//     turns into a no-op.
//   - A message that cannot be stored (undecodable, or refused by the schema)
//     is retried until it was delivered MAX_DELIVER times, then copied to the
//     dead-letter stream with its error and terminated.
//   - A message not stored for a passing reason (PostgreSQL down) is retried
//     without limit and never dead-lettered. The server-side MaxDeliver is
//     therefore unlimited; see bus.EnsureConsumer.
//
// POST / drains (Drain) or, when the body is a CloudEvent or a batch, stores
// the pushed events synchronously; CONSUME_CONTINUOUS runs Run for the
// process's life. Many replicas may drain the same consumer at once:
// identity and rollup rows are locked in sorted order, so they never
// deadlock and never count twice.
package consume
