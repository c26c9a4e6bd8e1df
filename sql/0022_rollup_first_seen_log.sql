-- rollup_first_seen_log says, for each materialization step (one per
-- rollup_version count it made), which users it added or whose first
-- event it moved back, with their first event at or after the step
-- (per project, parallel arrays; a user whose first_seen stayed may be
-- there too, with a later time). A stats process that read the users
-- whose first event lies in a retention window at one count brings that
-- read up to a later count from these rows instead of reading every user
-- again (shared/stats/firstseencache.go); a count with no row (a rebuild)
-- makes it read again. Each step writes at least one row (a project with
-- no change has empty arrays) and removes the rows 64 counts older.
CREATE TABLE IF NOT EXISTS rollup_first_seen_log (
    version bigint        NOT NULL,
    project text          COLLATE "C" NOT NULL,
    uids    int[]         NOT NULL,
    firsts  timestamptz[] NOT NULL,
    PRIMARY KEY (version, project)
);
