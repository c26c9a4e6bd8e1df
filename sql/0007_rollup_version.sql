-- rollup_version counts the transactions that changed the rollups'
-- calendar tables (each materialization step and each rebuild bumps it in
-- its own transaction). A stats process may keep what rollup_user_days
-- answered for as long as its queries' snapshots see the same count
-- (shared/stats/probecache.go).
CREATE TABLE IF NOT EXISTS rollup_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    n   bigint  NOT NULL
);
INSERT INTO rollup_version (one, n) VALUES (true, 0) ON CONFLICT DO NOTHING;
