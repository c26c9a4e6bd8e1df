// Package bus is eventfn's JetStream adapter: the connection, the events and
// dead-letter streams (file storage, every name configurable), the wire
// format of an event message, and publishing that waits for the stream's
// acknowledgement of every message.
package bus
