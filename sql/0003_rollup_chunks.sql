-- Chunks of rollup_cols, so that rollup.Compact finds small ones cheaply.
-- A chunk starts as one Apply call's events of a project's UTC day (a few
-- hundred); Compact merges a past day's small chunks into chunks of up to
-- 65536 events, which keeps rollup_cols near its data size and scans short.
CREATE TABLE IF NOT EXISTS rollup_chunks (
    chunk   bigint PRIMARY KEY,
    project text   NOT NULL,
    day     int    NOT NULL,
    n       int    NOT NULL
);
CREATE INDEX IF NOT EXISTS rollup_chunks_small ON rollup_chunks (day, project) WHERE n < 32768;
-- Compact reads and deletes whole chunks.
CREATE INDEX IF NOT EXISTS rollup_cols_chunk ON rollup_cols (chunk);
-- Type rows now carry their events' positions too, so chunks can merge.
-- Rows written before (none outside development) have none and are left
-- out of compaction.
