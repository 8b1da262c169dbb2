-- The fleet's incidents and figures (SPEC sections 5 and 10), derived by `selfheal central` from fleet_events
-- in fleet_seq order, in the same transactions as its cursor. Same columns and meaning as the local store's
-- (schema/005_quiet_incidents.sql); keys are those of section 5, so one service on several hosts is one service.

CREATE TABLE fleet_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- Milliseconds, between 1 minute and 30 days; default 4 hours.
    quiet_period_ms BIGINT NOT NULL CHECK (quiet_period_ms BETWEEN 60000 AND 2592000000)
);

INSERT INTO fleet_settings (id, quiet_period_ms) VALUES (1, 14400000);

CREATE TABLE fleet_incidents (
    id BIGINT PRIMARY KEY,
    service TEXT NOT NULL,
    component TEXT NOT NULL,
    incident TEXT,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'resolved', 'failed', 'expired')),
    peak_level SMALLINT NOT NULL CHECK (peak_level BETWEEN 0 AND 3),
    opened_at BIGINT NOT NULL,
    last_event_at BIGINT NOT NULL,
    resolved_at BIGINT,
    failed_at BIGINT,
    ended_at BIGINT,
    recovery_ms BIGINT,
    event_count BIGINT NOT NULL,
    -- The distinct mitigate kinds of its events, sorted: a JSON array of strings.
    actions TEXT NOT NULL,
    -- The fleet_seqs of its first and latest events.
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    span_class SMALLINT NOT NULL CHECK (span_class BETWEEN 0 AND 3)
);

CREATE INDEX fleet_incidents_by_opened_at ON fleet_incidents (opened_at, span_class, state, service, recovery_ms, ended_at);

CREATE INDEX fleet_incidents_long ON fleet_incidents (opened_at) WHERE span_class = 3;

-- The active incident of a key (at most one per key).
CREATE INDEX fleet_incidents_active ON fleet_incidents (service, incident, component) WHERE ended_at IS NULL;

CREATE TABLE fleet_counters (
    hour BIGINT NOT NULL,
    service TEXT NOT NULL,
    events BIGINT NOT NULL,
    timeout_prevented BIGINT NOT NULL,
    transition_blocked BIGINT NOT NULL,
    ratelimit_throttled BIGINT NOT NULL,
    PRIMARY KEY (hour, service)
);

-- The central projector's cursor: the fleet_seq of the last event applied.
CREATE TABLE fleet_projection_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_fleet_seq BIGINT NOT NULL CHECK (last_fleet_seq >= 0)
);

INSERT INTO fleet_projection_state (id, last_fleet_seq) VALUES (1, 0);
