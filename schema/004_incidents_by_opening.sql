-- The incidents' time index, led by the opening time instead of the span class. With the class first, each
-- commit inserted into four places of the index (one per class), and SQLite splits an index page by
-- rebalancing it with its siblings: the index wrote 8.0 pages to the WAL per commit of 1,000 events, more than
-- the incidents table itself (4.9). Led by `opened_at`, which grows with the log, the inserts go to one place:
-- 4.6 pages per commit, and 0.5 for the partial index below (README, "Benchmarks: projections").
DROP INDEX incidents_by_span_and_opened_at;

-- Incidents by opening time: those that overlap a range (classes 0-2, each from at most its bound before the
-- range; the class is read from the index, so other classes cost no table lookup), and the counts by state
-- and the recovery times of those opened in a range (covered).
CREATE INDEX incidents_by_opened_at ON incidents (opened_at, span_class, state, service, recovery_ms);

-- The active and the very long incidents (class 3), which may have opened any time before a range: few rows,
-- so their own small index.
CREATE INDEX incidents_long ON incidents (opened_at) WHERE span_class = 3;
