-- The projections (SPEC sections 4 and 5): incidents and hourly counters derived from the event log.
-- They change only in the transaction that appends the events they reflect, so they are always exactly what
-- replaying the log from seq 1 gives. Shipped migrations never change: add a new numbered file instead.

-- One row per incident, in order of opening (id).
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    -- The first event's component.
    component TEXT NOT NULL,
    -- The correlation key when the incident is keyed by (service, incident); NULL when keyed by
    -- (service, component). The two sorts of keys never meet.
    incident TEXT,
    -- The first event's kind: what the incident is about, for counters and reports.
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'resolved', 'failed')),
    -- The highest level of its events: 0 info, 1 warning, 2 critical, 3 failure.
    peak_level INTEGER NOT NULL CHECK (peak_level BETWEEN 0 AND 3),
    -- Epoch milliseconds UTC.
    opened_at INTEGER NOT NULL,
    resolved_at INTEGER,
    failed_at INTEGER,
    -- max(0, resolved_at - opened_at); NULL while unresolved.
    recovery_ms INTEGER,
    event_count INTEGER NOT NULL,
    -- The distinct mitigate kinds of its events, sorted: a JSON array of strings.
    actions TEXT NOT NULL,
    -- The seqs of its first and latest events.
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    -- How long it lasted: 0 at most a minute, 1 at most an hour, 2 at most a day, 3 longer or unresolved.
    -- An incident of class c overlaps a range only if opened less than its bound before the range, so each
    -- class is one bounded index range (class 3, the active and the very long ones, is small).
    span_class INTEGER NOT NULL CHECK (span_class BETWEEN 0 AND 3)
);

-- Incidents by lifetime class and opening time: those that overlap a range (one index range per class), the
-- active ones (class 3), and the counts by state and recovery times of those opened in a range (covered).
CREATE INDEX incidents_by_span_and_opened_at ON incidents (span_class, opened_at, state, service, recovery_ms);

-- Hourly counters per service (hour = floor(ts / 3600000), UTC): events by their ts, with the prevent-role
-- events by kind; incidents by their opened_at and current state. One row per hour and service keeps the
-- rows a commit rewrites few (a row per kind as well cost a fifth of the ingest rate); per-kind incident
-- figures come from the incidents table.
CREATE TABLE counters (
    hour INTEGER NOT NULL,
    service TEXT NOT NULL,
    events INTEGER NOT NULL,
    timeout_prevented INTEGER NOT NULL,
    transition_blocked INTEGER NOT NULL,
    ratelimit_throttled INTEGER NOT NULL,
    incidents_open INTEGER NOT NULL,
    incidents_resolved INTEGER NOT NULL,
    incidents_failed INTEGER NOT NULL,
    -- The sum of recovery_ms over the resolved incidents counted here.
    recovery_ms_sum INTEGER NOT NULL,
    PRIMARY KEY (hour, service)
) WITHOUT ROWID;

-- The seq of the last event the projections reflect.
CREATE TABLE projection_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
);

INSERT INTO projection_state (id, last_seq) VALUES (1, 0);
