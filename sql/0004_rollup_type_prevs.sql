-- rollup_type_gaps had one row per (day, type, previous active day): a
-- 30-day stats-top read ~20k of them. rollup_type_prevs packs each
-- (day, type)'s counts into one row: pairs are big-endian int4 pairs
-- (prev, users), ascending by prev, users never 0; prev = -2147483648 for
-- a user's first day of the type. The distinct users of a type over
-- [f, t] are the sum, over rows f <= day <= t, of users with prev < f.
CREATE TABLE IF NOT EXISTS rollup_type_prevs (
    project text  NOT NULL,
    tz      text  NOT NULL,
    day     int   NOT NULL,
    type_id int   NOT NULL,
    pairs   bytea NOT NULL,
    PRIMARY KEY (project, tz, day, type_id)
);
INSERT INTO rollup_type_prevs (project, tz, day, type_id, pairs)
SELECT project, tz, day, type_id, string_agg(int4send(prev) || int4send(users), ''::bytea ORDER BY prev)
FROM rollup_type_gaps WHERE users <> 0
GROUP BY project, tz, day, type_id
ON CONFLICT DO NOTHING;
DROP TABLE rollup_type_gaps;
