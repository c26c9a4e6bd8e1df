// Package bench holds eventfn's end-to-end benchmarks (scripts/bench e2e):
// the functions built as they are deployed and run as processes of their
// own, on a database, streams and a key prefix of the run's own, driven by
// HTTP clients as users drive them. It has no code of its own besides the
// benchmarks.
package bench
