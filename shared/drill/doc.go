// Package drill is eventfn's fault drill (`make drill`, and a short version
// in `make test`): it starts its own PostgreSQL (initdb), Redis and NATS
// (one server, or a cluster of three) on loopback ports of its own, runs
// the functions as separate processes configured through the environment
// only (ingest ×2, consume-batch ×2, the stats functions), sends events
// from a client that behaves as the contract tells clients to (the same
// request again on 503 or a cut connection), and injects one fault after
// another: NATS killed, Redis restarted empty, PostgreSQL stopped at once
// and started, its connection limit exhausted, a replica of ingest and of
// consume-batch killed, a consumer stopped past its ack wait; on a cluster
// the stream leader killed and a follower partitioned away. Then it drains
// the consumer and checks that every event answered 2xx is stored exactly
// once and that the stats functions' answers equal a count made from the
// client's own record. With a streaming replica it also shows the stats
// read from it converge to the primary's answers.
//
// The functions are black boxes reached through their HTTP URLs: the
// drill knows nothing of how they store events.
package drill
