-- The append-only event log (SPEC section 4).
-- Shipped migrations never change: add a new numbered file instead.

CREATE TABLE events (
    -- Gapless from 1 in commit order: the rowid, assigned as max(seq) + 1 by the single writer.
    seq INTEGER PRIMARY KEY,
    -- Event time and receive time, epoch milliseconds UTC.
    ts INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    service TEXT NOT NULL,
    component TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- The effective level: the one given, else the kind's default.
    level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'critical', 'failure')),
    message TEXT,
    incident TEXT,
    -- The service's own event id; (service, event_id) is unique.
    event_id TEXT,
    -- The attrs object as the service sent it (JSON text).
    attrs TEXT,
    -- The sending process, from SO_PEERCRED; NULL when not known.
    peer_uid INTEGER,
    peer_pid INTEGER
);

CREATE INDEX events_by_ts ON events (ts);

CREATE UNIQUE INDEX events_by_service_and_id ON events (service, event_id) WHERE event_id IS NOT NULL;

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: UPDATE refused');
END;

CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: DELETE refused');
END;

-- Lines that were rejected, kept raw (cut at 64 KiB) with their error.
CREATE TABLE rejects (
    id INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    -- 1-based line number on the connection that sent it.
    line INTEGER NOT NULL,
    error TEXT NOT NULL,
    -- The bytes as received; may be invalid UTF-8, hence a BLOB.
    raw BLOB NOT NULL,
    peer_uid INTEGER,
    peer_pid INTEGER
);

CREATE INDEX rejects_by_received_at ON rejects (received_at);

CREATE TRIGGER rejects_refuse_update BEFORE UPDATE ON rejects
BEGIN
    SELECT RAISE(ABORT, 'rejects are append-only: UPDATE refused');
END;
