-- Archive: the manifest of Parquet files that hold events moved out of the
-- events table (shared/archive). A file is part of the archive exactly when
-- its row is here: the row is inserted in the transaction that deletes the
-- file's events, so a file left by an interrupted run (not listed) is an
-- orphan that the next run removes. event_ids is never archived.

CREATE SCHEMA IF NOT EXISTS eventfn_meta;

-- instance names this database's files (their name starts with it), so two
-- databases sharing one ARCHIVE_URL never take each other's files for
-- orphans. One row.
CREATE TABLE IF NOT EXISTS eventfn_meta.archive_instance (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    id  text    NOT NULL DEFAULT substr(replace(gen_random_uuid()::text, '-', ''), 1, 12)
);
INSERT INTO eventfn_meta.archive_instance DEFAULT VALUES ON CONFLICT DO NOTHING;

-- File numbers: a sequence never hands out a number twice, even to a
-- transaction that rolled back, so a file name is never reused.
CREATE SEQUENCE IF NOT EXISTS eventfn_meta.archive_file_seq AS bigint;

CREATE TABLE IF NOT EXISTS eventfn_meta.archive_files (
    -- path is relative to ARCHIVE_URL: project=P/date=YYYY-MM-DD/NAME.parquet
    path        text        PRIMARY KEY,
    project     text        NOT NULL,
    day         date        NOT NULL, -- UTC
    rows        bigint      NOT NULL,
    bytes       bigint      NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS archive_files_project_day ON eventfn_meta.archive_files (project, day);
