// Package consume is the consume-batch function (contract §5): it moves
// events from the durable JetStream pull consumer into PostgreSQL, each
// (project, source, id) stored at most once, and keeps the rollups caught
// up with what is stored.
//
// A stream message carries the events of one ingest request (bus.DecodeMsg
// reads that format and the one-event format of earlier versions). A batch
// of about CONSUME_BATCH_SIZE events is one transaction: identities, events
// and the rollup feed (store.InsertRecords). A materializer loop in every
// process moves the feed into the rollups in chunks of ROLLUP_CHUNK_EVENTS,
// each chunk applied and removed from the feed in one transaction
// (rollup.Materializer); stats count the feed's events meanwhile.
//
// Delivery rules:
//   - A message is acknowledged only after the transaction holding its
//     events committed; a crash anywhere means redelivery, which finds the
//     identities stored and changes nothing.
//   - The dead-letter unit is the event. A message some of whose events
//     the database refuses for good has its other events stored now; it is
//     retried until it was delivered MAX_DELIVER times, then each refused
//     event goes to the dead-letter stream on its own, with its error, and
//     the message is acknowledged. A message that cannot be read at all is
//     moved whole after as many deliveries.
//   - Events not stored for a passing reason (PostgreSQL down) are retried
//     without limit and never dead-lettered. The server-side MaxDeliver is
//     therefore unlimited; see bus.EnsureConsumer.
//
// POST / drains (Drain) or, when the body is a CloudEvent or a batch, stores
// the pushed events synchronously; CONSUME_CONTINUOUS runs Run for the
// process's life. Many replicas may drain the same consumer at once:
// identities are locked in sorted order, so batches never deadlock and
// never store an event twice.
package consume
