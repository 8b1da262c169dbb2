-- Room in each page of fleet_incidents for the new version of a row: most updates of an incident (an event
-- joining it) change no indexed column, so with room on its page PostgreSQL writes them as heap-only tuples,
-- without a new entry in each of the table's indexes.
ALTER TABLE fleet_incidents SET (fillfactor = 70);
