-- The index of the active incidents that left the projections' bounded in-memory working set, in place of
-- the partial index `incidents_active`. That index took an entry for every incident opened and lost it when the
-- incident ended, each at a random place in a large B-tree: one more page written per incident, which cost
-- more than the incident's own row. This table takes an entry only when an active incident leaves the working
-- set, a few thousand at a time in sorted order, and loses it when that incident ends.
--
-- `key_hash` is the projections' 64-bit hash of the incident's key (service, and incident or component; SPEC
-- section 5), as a signed integer. The table holds no truth of its own: the writer empties and refills it from
-- the incidents whenever it loads its working set (at start, and after a rolled back transaction), so a
-- change of the hash function needs no migration. Shipped migrations never change.
DROP INDEX incidents_active;

CREATE TABLE incident_keys (
    key_hash INTEGER NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (key_hash, id)
) WITHOUT ROWID;
