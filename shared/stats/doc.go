// Package stats is the three stats functions (contract §6): stats-dau,
// stats-top and stats-retention, each GET / with a read key, answering for
// the key's project only.
//
// Every answer is exact, computed on one of two paths from what
// rollup.Apply writes in the insert's transaction (package rollup):
//
//   - rollup: the calendar rollups of a zone listed in ROLLUP_TIMEZONES
//     (default UTC) answer, in a few small index reads, stats-dau with at
//     most one type, stats-top with any types, and stats-retention without
//     start_type or return_type; none with a source or property filter.
//   - columns: everything else (other zones, several types, sources,
//     properties, start and return types) is computed in the function
//     from the compact event columns of rollup_cols: only the rows of the
//     requested types or property values, about 8 to 18 bytes an event,
//     with distinct users counted in bit sets over dense user ids. Several
//     property filters intersect per event by position within a chunk.
//
// The answer says which in the X-Stats-Path header; tests hold both paths
// to a brute-force reading of the contract.
//
// Parameter rules, where the contract leaves room:
//   - from and to are strict YYYY-MM-DD; to - from at most
//     STATS_MAX_RANGE_DAYS (400).
//   - tz is an IANA zone name; "Local" is refused. Zone data is compiled in.
//   - prop.KEY=VALUE: KEY is a top-level key taken literally (dots are part
//     of it). The event matches when data.KEY is the string VALUE; or, when
//     VALUE is a JSON number literal, a number equal to it (exact decimal
//     equality: prop.n=5 matches 5, 5.0 and 5e0 and the string "5", not
//     "5.0"); or, when VALUE is true or false, that boolean (or the string).
//     null, objects and arrays never match. Keys and values reach
//     PostgreSQL only as bind parameters (as sha256 hashes, in fact).
//   - Unknown parameters are refused with 400, so a misspelt filter never
//     silently widens an answer; parameters given twice (other than type
//     and prop.*) too. stats-retention accepts type and ignores it, as the
//     contract says.
//   - stats-top orders ties by type in byte order.
//
// Each function migrates the schema at start and registers the
// ROLLUP_TIMEZONES zones (building a new zone's rollups from every stored
// event first), then retries that on /readyz until PostgreSQL is there.
package stats
