// Package archive is the archive function (contract §7): it moves whole UTC
// days older than HOT_DAYS out of the events table into Parquet files under
// ARCHIVE_URL, laid out project=P/date=YYYY-MM-DD/<instance>-<n>.parquet.
//
// # What is archived
//
// Only events rows. event_ids (identity) is never archived, so an event
// re-sent after its day was archived is still a duplicate; the rollups
// (rollup_* tables) are never archived either, and the stats functions
// answer from them alone, so archiving changes no stats answer. A day D is
// archived when D < today (UTC) - HOT_DAYS. Events that arrive late for an
// archived day land in the events table again and the next run archives
// them into an additional file of that day.
//
// # Crash safety
//
// A run holds a session advisory lock on one connection and does all its
// database work on that connection, so runs never overlap (a second run
// waits, then finds nothing to do), and a run whose connection is lost can
// commit nothing more. Per (project, day) the run, in ONE transaction:
//
//  1. deletes the day's rows of the project with DELETE ... RETURNING, which
//     returns exactly the rows it deletes, and streams them into a Parquet
//     file written under a temporary name, fsynced, then renamed to its
//     final, never reused name (a sequence number; on S3 an upload that
//     completes under that name, see Storage);
//  2. inserts the file's row into the manifest (eventfn_meta.archive_files);
//  3. commits.
//
// Rows inserted concurrently (late events) are not in the statement's
// snapshot: neither deleted nor written, they wait for the next run. So a
// file's rows and the deleted rows are the same set, and the manifest row
// commits atomically with the delete. An interruption before the commit
// rolls the delete back and leaves at most a file that the manifest does not
// list: each run first removes such orphans (files of this database's
// instance that match the layout and are not listed, and its temporary
// files), and never touches other files. An interruption after the commit
// leaves the archived state. Either way no event is lost or doubled, and a
// rerun finishes the work.
//
// # Partitions
//
// After archiving, daily partitions of archived days left without rows are
// dropped (store.DropEmptyPartitions: re-checked empty under events' ACCESS
// EXCLUSIVE lock, waited for at most a second, else left for the next run).
// A late event for such a day makes InsertEvents recreate the partition.
// With TimescaleDB (events a hypertable) chunks are left to TimescaleDB.
//
// # Storage
//
// ARCHIVE_URL is file:///path or s3://bucket/optional/prefix (AWS S3, or
// an S3-compatible service such as MinIO at ARCHIVE_S3_ENDPOINT). On S3 a
// file is one multipart upload streamed from the Parquet writer, one part
// in memory at a time: the object appears whole when the upload completes,
// or never, which stands in for the rename. An upload a crash left
// unfinished holds parts but no object; List shows it as a temporary name
// and the orphan sweep aborts it like a temporary file. Credentials come
// from the standard AWS variables or the pod's IAM role. /readyz writes
// and removes a probe object, so a missing bucket or a read-only policy
// shows before the first run.
//
// # Columns
//
// The Parquet columns mirror the events table: project, source, id, type,
// subject, time and received_at (timestamps, UTC, microseconds, as stored),
// datacontenttype, dataschema, props and extensions (JSON text in UTF-8
// string columns; DuckDB: props::JSON), data (bytes). Files are zstd
// compressed, rows sorted by time, source, id.
package archive
