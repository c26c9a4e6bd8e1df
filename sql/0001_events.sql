-- Events, partitioned by time, and their identity.
--
-- Identity: a partitioned table cannot carry a unique index without its
-- partition column, and the same event may be re-sent with a different time.
-- event_ids is a plain table keyed by (project, source, id) alone; the
-- consumer inserts there first (ON CONFLICT DO NOTHING) in the same
-- transaction as the event row, and only identities that were really new get
-- an events row. event_ids is never archived, so identity holds forever.

CREATE TABLE IF NOT EXISTS event_ids (
    project text        NOT NULL,
    source  text        NOT NULL,
    id      text        NOT NULL,
    -- time is where the event row lives, so it can be found by identity.
    time    timestamptz NOT NULL,
    PRIMARY KEY (project, source, id)
);

CREATE TABLE IF NOT EXISTS events (
    project         text        NOT NULL,
    source          text        NOT NULL,
    id              text        NOT NULL,
    type            text        NOT NULL,
    -- subject is the actor; NULL for anonymous events.
    subject         text,
    time            timestamptz NOT NULL,
    received_at     timestamptz NOT NULL,
    datacontenttype text,
    dataschema      text,
    -- props is the data when it is a JSON object: the filterable properties.
    props           jsonb,
    -- data is the data when it is not JSON, stored as bytes.
    data            bytea,
    -- extensions are the CloudEvent extension attributes as they came.
    extensions      jsonb       NOT NULL DEFAULT '{}'
) PARTITION BY RANGE (time);

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
    IF to_regclass(part) IS NOT NULL THEN
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
