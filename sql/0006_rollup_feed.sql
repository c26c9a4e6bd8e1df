-- The rollup feed: events stored but not yet in the rollups. The
-- transaction that inserts events adds them here (one row per project and
-- transaction, the events encoded as event.EncodeRecords does with the
-- columns the rollups need); a materializer applies rows to the rollups in
-- large chunks and deletes them in the same transaction. So each stored
-- event is in the rollups or in the feed, never both, and stats add the
-- feed's events to what the rollups say (shared/rollup/feed.go).
CREATE TABLE IF NOT EXISTS rollup_feed (
    seq      bigserial   PRIMARY KEY,
    project  text        COLLATE "C" NOT NULL,
    -- The UTC days (days since 1970-01-01) the row's events span, so a
    -- stats query over other days skips the row.
    day_lo   int         NOT NULL,
    day_hi   int         NOT NULL,
    n        int         NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    events   bytea       NOT NULL
);
-- Encoded events compress little; compressing would cost every write.
ALTER TABLE rollup_feed ALTER COLUMN events SET STORAGE EXTERNAL;
CREATE INDEX IF NOT EXISTS rollup_feed_project ON rollup_feed (project, day_lo);
