// Package event is eventfn's domain: the CloudEvent as eventfn accepts it,
// its identity, the limits and validation rules of the contract, the decoders
// for the four ingest body modes, and the error codes every function maps to
// HTTP. It does no I/O.
package event
