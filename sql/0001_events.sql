-- Events, partitioned by time, and their identity.
--
-- Identity: a partitioned table cannot carry a unique index without its
-- partition column, and the same event may be re-sent with a different time.
-- event_ids is a plain table keyed by (project, source, id) alone; the
-- consumer inserts the new identities there first, in the same transaction
-- as the event rows, and only identities that were really new get an events
-- row (the primary key refuses one stored concurrently). event_ids is never archived, so identity holds forever.

CREATE TABLE IF NOT EXISTS event_ids (
    project text        NOT NULL,
    source  text        NOT NULL,
    id      text        NOT NULL,
    -- time is where the event row lives, so it can be found by identity.
    time    timestamptz NOT NULL,
    PRIMARY KEY (project, source, id)
);

-- events is partitioned by day on time. With the TimescaleDB extension
-- available (docker compose, production) it is a hypertable with daily
-- chunks, which TimescaleDB creates on demand and can compress; otherwise
-- (plain PostgreSQL, what CI proves) it is natively range-partitioned with
-- daily partitions made by eventfn_ensure_partition. Columns:
--   subject     the actor; NULL for anonymous events
--   props       the data when it is a JSON object: the filterable properties
--   data        any other data, stored as bytes
--   extensions  the CloudEvent extension attributes as they came
DO $$
DECLARE
    cols text := $cols$
        project         text        NOT NULL,
        source          text        NOT NULL,
        id              text        NOT NULL,
        type            text        NOT NULL,
        subject         text,
        time            timestamptz NOT NULL,
        received_at     timestamptz NOT NULL,
        datacontenttype text,
        dataschema      text,
        props           jsonb,
        data            bytea,
        extensions      jsonb       NOT NULL DEFAULT '{}'
    $cols$;
    timescale boolean := false;
BEGIN
    IF to_regclass('events') IS NOT NULL THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
            timescale := true;
        EXCEPTION WHEN insufficient_privilege OR feature_not_supported OR object_not_in_prerequisite_state THEN
            -- Not preloaded or not allowed: native partitions work everywhere.
            timescale := false;
        END;
    END IF;
    IF timescale THEN
        EXECUTE format('CREATE TABLE events (%s)', cols);
        EXECUTE $ts$SELECT create_hypertable('events', 'time', chunk_time_interval => INTERVAL '1 day')$ts$;
    ELSE
        EXECUTE format('CREATE TABLE events (%s) PARTITION BY RANGE (time)', cols);
    END IF;
END
$$;

CREATE INDEX IF NOT EXISTS events_project_time ON events (project, time);
CREATE INDEX IF NOT EXISTS events_props ON events USING gin (props jsonb_path_ops);

-- eventfn_ensure_partition creates the daily partition holding day (UTC) if
-- it does not exist yet. Safe to call concurrently: a creation that loses
-- the race (42P07) counts as done. (An advisory lock would not do: it does
-- not refresh the catalog snapshot that to_regclass reads.)
CREATE OR REPLACE FUNCTION eventfn_ensure_partition(day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    part text := 'events_p' || to_char(day, 'YYYYMMDD');
BEGIN
    -- A hypertable makes its chunks itself.
    IF to_regclass(part) IS NOT NULL
       OR (SELECT relkind FROM pg_class WHERE oid = 'events'::regclass) <> 'p' THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
            part,
            (day::timestamp AT TIME ZONE 'UTC'),
            ((day + 1)::timestamp AT TIME ZONE 'UTC'));
    EXCEPTION WHEN duplicate_table THEN
        NULL;
    END;
END;
$$;
