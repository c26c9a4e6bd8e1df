-- merged names the chunks a compaction merged into this one, and the ones
-- those had merged, so that a stats process holding what it folded of the
-- old chunks can tell that the new one holds the same events and fold only
-- what else is new (shared/stats/foldcache.go) instead of every row of the
-- range. NULL for a chunk a materialization step wrote. At most 4096 ids:
-- a chunk merged more often names its latest ancestors only, which makes
-- such a process fold again, nothing worse.
ALTER TABLE rollup_chunks ADD COLUMN IF NOT EXISTS merged bigint[];
