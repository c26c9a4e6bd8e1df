-- Identity and user keys are compared for equality and ordered only for
-- locking, never shown sorted: byte order ("C") serves, and costs far less
-- than the database's collation on every index probe and insert of the
-- consumer's hot path.
ALTER TABLE event_ids
    ALTER COLUMN project TYPE text COLLATE "C",
    ALTER COLUMN source TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE rollup_users
    ALTER COLUMN project TYPE text COLLATE "C",
    ALTER COLUMN subject TYPE text COLLATE "C";
