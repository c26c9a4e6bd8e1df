// Package rollup keeps what the stats functions read instead of the events
// table, materialized up to a watermark the way TimescaleDB's real-time
// continuous aggregates are.
//
// The transaction that inserts events also appends the new ones to the
// feed (WriteFeed, rollup_feed): cheap, contention-free rows, so the
// insert path pays nothing per user. A Materializer (every consume-batch
// process runs one) moves the feed into the rollups in large chunks with
// Apply, and deletes the rows it applied in the same transaction: the
// rollups change and the watermark moves together, so a crash at any point
// loses nothing and counts nothing twice. Stats read the rollups and the
// feed in one snapshot (FeedRows, ReadFeedRows), so every answer counts every committed
// event, whether or not it is materialized yet.
//
// Apply calls take the rollups' writer lock (zonesLockKey) for their
// transaction: however many replicas materialize, one Apply runs at a
// time, reads what it changes without row locks, and never deadlocks.
//
// Three layers, all in PostgreSQL (sql/0002_rollups.sql):
//
//   - Dictionaries. Types and sources get small ids (rollup_names), every
//     top-level scalar property value an id (rollup_props, keyed by a
//     sha256 of key and canonical value), and every user (subject) a dense
//     id per project (rollup_users, with the time of their first-ever
//     event). Dense ids make a distinct count a bit set.
//
//   - Columns (rollup_cols). Every event once as (uid, second of its UTC
//     day, type, source) in little-endian arrays, one row per type per
//     chunk (a chunk is one Apply call's events of one project and UTC
//     day); and again, with its type and position in the chunk, in one row
//     per property value it holds. Any stats question (any zone, any
//     filter) is answered exactly from these: a property filter reads only
//     the rows of its values, about 18 bytes an event, instead of the
//     events' heap. The columns are never archived, so stats do not depend
//     on which days are still hot.
//
//   - Calendar rollups, per zone listed in eventfn_meta.rollup_timezones
//     (UTC to begin with; EnsureTimezones adds one, building it from the
//     columns under the writer lock). Per zone: each user's active days per
//     type and for any type (rollup_user_days), events per type and day,
//     distinct users per day, week (from Monday) and month for each type
//     and any type (rollup_active), retention counts of first-ever cohorts
//     by day and week (rollup_retention), and, for the distinct users of
//     a type over any range of days, the gaps between a user's consecutive
//     active days (rollup_type_prevs, one packed row per day and type: a
//     user is active in [f, t] exactly when one of their active days d in
//     [f, t] has its previous active day before f). These answer
//     unfiltered questions, and those filtered by type alone, in a few
//     milliseconds.
//
// Late events of any age are exact: Apply reads the stored active days of
// the users whose events add something, all of them in one query, and
// works out which days, buckets, gaps and cohorts change; when a late
// event moves a user's first day into an earlier cohort, all of that
// user's retention counts move. Rebuild computes the same tables from
// scratch with separate code; the tests hold the two equal.
//
// The consumer needs no configuration for this: Apply reads the zone list
// from the database in each transaction.
package rollup
