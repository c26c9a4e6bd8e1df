-- The feed's encoded events compress about threefold with lz4, and
-- compressing them costs PostgreSQL less than writing them whole: the
-- consumer's COPY of a feed row of 10,000 events took 16 ms instead of
-- 25 ms (docs/performance.md). pglz would cost more than it saves, so a
-- server built without lz4 keeps them uncompressed, as 0006 made them.
-- Rows written before this keep their form; both read the same.
DO $$
BEGIN
    ALTER TABLE rollup_feed ALTER COLUMN events SET COMPRESSION lz4;
    ALTER TABLE rollup_feed ALTER COLUMN events SET STORAGE EXTENDED;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
