-- Quiet incidents (SPEC section 5): an incident that hears nothing for the store's quiet period stops being
-- active. Incidents gain `last_event_at` (the greatest ts of their events) and `ended_at` (when the store
-- ended them: the recover event's ts, or last_event_at + quiet period), and the state `expired`.
--
-- The projections of a store written before this migration were derived without a quiet period, so they are
-- dropped and replayed from the log when the store is next opened for writing (`selfheal serve` or
-- `selfheal rebuild`): projection_state goes back to 0. The log itself is untouched. Shipped migrations never
-- change.

-- What the store was created with. The quiet period belongs to the store: `selfheal rebuild --quiet-period`
-- changes it by replaying the log.
CREATE TABLE store_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- Milliseconds, between 1 minute and 30 days; default 4 hours (PagerDuty's auto-resolve timeout).
    quiet_period_ms INTEGER NOT NULL CHECK (quiet_period_ms BETWEEN 60000 AND 2592000000)
);

INSERT INTO store_settings (id, quiet_period_ms) VALUES (1, 14400000);

DROP TABLE incidents;

-- One row per incident, in order of opening (id).
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    -- The first event's component.
    component TEXT NOT NULL,
    -- The correlation key when the incident is keyed by (service, incident); NULL when keyed by
    -- (service, component). The two sorts of keys never meet.
    incident TEXT,
    -- The first event's kind: what the incident is about.
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    -- As the store holds it: `open` while active, `expired` once it went quiet (ended by a later event on its
    -- key), `resolved`, `failed` (active or ended). A read applies the quiet rule by its own clock (as_of).
    state TEXT NOT NULL CHECK (state = 'open' OR state = 'resolved' OR state = 'failed' OR state = 'expired'),
    -- The highest level of its events: 0 info, 1 warning, 2 critical, 3 failure.
    peak_level INTEGER NOT NULL CHECK (peak_level BETWEEN 0 AND 3),
    -- Epoch milliseconds UTC.
    opened_at INTEGER NOT NULL,
    last_event_at INTEGER NOT NULL,
    resolved_at INTEGER,
    failed_at INTEGER,
    -- resolved_at when resolved; last_event_at + quiet period when a later event found it quiet; NULL while
    -- the store holds it active.
    ended_at INTEGER,
    -- max(0, resolved_at - opened_at); NULL while unresolved.
    recovery_ms INTEGER,
    event_count INTEGER NOT NULL,
    -- The distinct mitigate kinds of its events, sorted: a JSON array of strings.
    actions TEXT NOT NULL,
    -- The seqs of its first and latest events.
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    -- How long it lasted (ended_at - opened_at): 0 at most a minute, 1 at most an hour, 2 at most a day, 3
    -- longer or not ended. An incident of class c overlaps a range only if opened less than its bound before
    -- the range, so each class is one bounded index range (class 3 has its own small index).
    span_class INTEGER NOT NULL CHECK (span_class BETWEEN 0 AND 3)
);

-- Incidents by opening time: those that overlap a range (classes 0-2, each from at most its bound before the
-- range), and the figures of those opened in a range (state, recovery time and end are covered). Only a
-- change of state or end rewrites an entry: events that merely join an incident leave the index alone.
CREATE INDEX incidents_by_opened_at ON incidents (opened_at, span_class, state, service, recovery_ms, ended_at);

-- The active and the very long incidents (class 3), which may have opened any time before a range.
CREATE INDEX incidents_long ON incidents (opened_at) WHERE span_class = 3;

-- The active incident of a key, for the projections when it is not in their bounded in-memory working set:
-- (service, incident) for keys by incident, (service, NULL, component) for keys by component.
CREATE INDEX incidents_active ON incidents (service, incident, component) WHERE ended_at IS NULL;

-- Hourly counters per service (hour = floor(ts / 3600000), UTC): events by their ts, with the prevent-role
-- events by kind. The incidents' figures come from the incidents themselves (their state depends on the
-- reader's as_of).
DROP TABLE counters;

CREATE TABLE counters (
    hour INTEGER NOT NULL,
    service TEXT NOT NULL,
    events INTEGER NOT NULL,
    timeout_prevented INTEGER NOT NULL,
    transition_blocked INTEGER NOT NULL,
    ratelimit_throttled INTEGER NOT NULL,
    PRIMARY KEY (hour, service)
) WITHOUT ROWID;

UPDATE projection_state SET last_seq = 0;
