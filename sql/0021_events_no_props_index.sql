-- events loses its GIN index on props: nothing eventfn runs reads events
-- by property (stats filter on the rollups' per-event columns, archive
-- reads by project and time), and the index made storing an event about
-- half as dear again (consume-batch stored 11-46 % more events a second
-- without it, scripts/bench consume). Where you query events by property
-- in SQL yourself, create it again (docs/operations.md).
DROP INDEX IF EXISTS events_props;
