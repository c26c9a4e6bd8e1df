-- Rollups: what the stats functions read instead of the events table.
-- Written only by rollup.Apply, in the transaction that inserted the events,
-- from the rows really inserted; see shared/rollup/doc.go for the design.
-- Days are stored as day numbers (int: days since 1970-01-01), in UTC for
-- rollup_cols and in the row's tz for the per-tz tables.

-- Configuration lives outside the public schema: it is not event data.
CREATE SCHEMA IF NOT EXISTS eventfn_meta;

-- The time zones whose calendar rollups Apply maintains. A zone is listed
-- only once its rollups were built from every stored event (rollup.
-- EnsureTimezones), so stats may trust them for a listed zone.
CREATE TABLE IF NOT EXISTS eventfn_meta.rollup_timezones (
    tz       text PRIMARY KEY,
    added_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO eventfn_meta.rollup_timezones (tz) VALUES ('UTC') ON CONFLICT DO NOTHING;

-- Dictionaries: small integer ids for types, sources and users, so that
-- columns are compact and distinct counts are bit sets.
CREATE SEQUENCE IF NOT EXISTS rollup_name_id AS int;
CREATE TABLE IF NOT EXISTS rollup_names (
    project text   NOT NULL,
    kind    "char" NOT NULL, -- 't' type, 's' source
    name    text   NOT NULL,
    id      int    NOT NULL DEFAULT nextval('rollup_name_id'),
    PRIMARY KEY (project, kind, name)
);
CREATE UNIQUE INDEX IF NOT EXISTS rollup_names_id ON rollup_names (id);

-- Property values: one id per (key, value) of a top-level scalar property.
-- hash is sha256 of the key and the canonical value (rollup.propHash), so
-- long values need no btree entry of their own.
CREATE SEQUENCE IF NOT EXISTS rollup_prop_id AS bigint;
CREATE TABLE IF NOT EXISTS rollup_props (
    project text   NOT NULL,
    hash    bytea  NOT NULL,
    id      bigint NOT NULL DEFAULT nextval('rollup_prop_id'),
    key     text   NOT NULL,
    value   text   NOT NULL, -- kind letter (s string, n number, b bool) + canonical text
    PRIMARY KEY (project, hash)
);

-- Users: a dense id per project (rollup_projects.next_uid, allocated under
-- that row's lock) and the time of the user's first-ever event.
CREATE TABLE IF NOT EXISTS rollup_projects (
    project  text PRIMARY KEY,
    next_uid int  NOT NULL
);
CREATE TABLE IF NOT EXISTS rollup_users (
    project    text        NOT NULL,
    subject    text        NOT NULL,
    uid        int         NOT NULL,
    first_seen timestamptz NOT NULL,
    PRIMARY KEY (project, subject)
);
CREATE INDEX IF NOT EXISTS rollup_users_first_seen ON rollup_users (project, first_seen);

-- Columns: every event as (uid, second of its UTC day, type, source),
-- little-endian arrays in bytea, one row per (kind, key, UTC day, chunk).
-- Kind 't': the events of type key (types column absent). Kind 'p': the
-- events whose property value key matches, with their position (ords) in
-- the chunk so that several property filters intersect per event. A chunk
-- is the events of one Apply call for one project and UTC day.
CREATE SEQUENCE IF NOT EXISTS rollup_chunk_id AS bigint;
CREATE TABLE IF NOT EXISTS rollup_cols (
    project text   NOT NULL,
    kind    "char" NOT NULL,
    key     bigint NOT NULL,
    day     int    NOT NULL,
    chunk   bigint NOT NULL,
    n       int    NOT NULL,
    uids    bytea  NOT NULL, -- uint32 each; 0 = anonymous
    secs    bytea  NOT NULL, -- uint32 each: seconds since the UTC day's start
    sources bytea  NOT NULL, -- uint32 each: rollup_names id
    types   bytea,           -- uint32 each (kind 'p' only)
    ords    bytea,           -- uint16 each (kind 'p' only)
    PRIMARY KEY (project, kind, key, day, chunk)
);
-- Compressing random integers gains little and costs every read.
ALTER TABLE rollup_cols ALTER COLUMN uids SET STORAGE EXTERNAL;
ALTER TABLE rollup_cols ALTER COLUMN secs SET STORAGE EXTERNAL;
ALTER TABLE rollup_cols ALTER COLUMN sources SET STORAGE EXTERNAL;
ALTER TABLE rollup_cols ALTER COLUMN types SET STORAGE EXTERNAL;
ALTER TABLE rollup_cols ALTER COLUMN ords SET STORAGE EXTERNAL;

-- Per time zone (tz) calendar rollups. type_id 0 means "any type".
-- rollup_user_days: the days on which a user had an event of a type.
CREATE TABLE IF NOT EXISTS rollup_user_days (
    project text NOT NULL,
    tz      text NOT NULL,
    uid     int  NOT NULL,
    type_id int  NOT NULL,
    day     int  NOT NULL,
    PRIMARY KEY (project, tz, uid, type_id, day)
);
-- rollup_type_days: events per type and day (anonymous ones included).
CREATE TABLE IF NOT EXISTS rollup_type_days (
    project text   NOT NULL,
    tz      text   NOT NULL,
    day     int    NOT NULL,
    type_id int    NOT NULL,
    events  bigint NOT NULL,
    PRIMARY KEY (project, tz, day, type_id)
);
-- rollup_type_gaps: users whose consecutive active days of a type are
-- (prev, day); prev = -2147483648 for a user's first day. The distinct
-- users of a type over [f, t] are the sum over f <= day <= t, prev < f.
CREATE TABLE IF NOT EXISTS rollup_type_gaps (
    project text NOT NULL,
    tz      text NOT NULL,
    day     int  NOT NULL,
    type_id int  NOT NULL,
    prev    int  NOT NULL,
    users   int  NOT NULL,
    PRIMARY KEY (project, tz, day, type_id, prev)
);
-- rollup_active: distinct users per calendar bucket (grain d, w, m).
CREATE TABLE IF NOT EXISTS rollup_active (
    project text   NOT NULL,
    tz      text   NOT NULL,
    grain   "char" NOT NULL,
    type_id int    NOT NULL,
    bucket  int    NOT NULL,
    users   int    NOT NULL,
    PRIMARY KEY (project, tz, grain, type_id, bucket)
);
-- rollup_retention: users whose first-ever event is in bucket cohort and
-- who had an event in bucket (grain d or w).
CREATE TABLE IF NOT EXISTS rollup_retention (
    project text   NOT NULL,
    tz      text   NOT NULL,
    grain   "char" NOT NULL,
    cohort  int    NOT NULL,
    bucket  int    NOT NULL,
    users   int    NOT NULL,
    PRIMARY KEY (project, tz, grain, cohort, bucket)
);
