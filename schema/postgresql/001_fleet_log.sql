-- The fleet's central log (SPEC section 10): every host's committed events, forwarded in seq order.
-- Shipped migrations never change: add a new numbered file instead.

-- One row per forwarding host: its cursor, advanced in the transaction that stores its events.
CREATE TABLE fleet_hosts (
    host_id TEXT PRIMARY KEY CHECK (length(host_id) BETWEEN 1 AND 255),
    -- The last local seq stored from this host (0: none yet). A batch holds seqs forwarded_seq + 1, + 2, ...
    forwarded_seq BIGINT NOT NULL CHECK (forwarded_seq >= 0),
    -- The ts of the last event stored from the host, epoch milliseconds UTC (NULL: none yet).
    last_ts BIGINT,
    -- The hash of the host's last link (fleet_links), 32 zero bytes before the first.
    last_hash BYTEA NOT NULL CHECK (length(last_hash) = 32),
    -- When its last batch committed, by the server's clock.
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The head of the log: the fleet_seq of the last event stored. Every appender updates this one row in its
-- transaction before it inserts, so appenders are serialized by its row lock: the transaction that takes
-- fleet_seq N + 1 waits until the one that took N has committed (or rolled back, which gives N back). Hence
-- fleet_seq is gapless from 1 and commit order is fleet_seq order: a reader that has seen fleet_seq N never
-- sees a smaller one appear later (a plain sequence gives neither: numbers taken by a rolled-back transaction
-- are lost, and a later number can commit first).
CREATE TABLE fleet_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_fleet_seq BIGINT NOT NULL CHECK (last_fleet_seq >= 0)
);

INSERT INTO fleet_head (id, last_fleet_seq) VALUES (1, 0);

CREATE TABLE fleet_events (
    -- Gapless from 1 in commit order (see fleet_head).
    fleet_seq BIGINT PRIMARY KEY,
    host_id TEXT NOT NULL,
    -- The event's seq in its host's local log.
    seq BIGINT NOT NULL CHECK (seq >= 1),
    -- The columns of the local log (schema/001_event_log.sql), same meaning.
    ts BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    service TEXT NOT NULL,
    component TEXT NOT NULL,
    kind TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'critical', 'failure')),
    message TEXT,
    incident TEXT,
    event_id TEXT,
    attrs TEXT,
    peer_uid BIGINT,
    peer_pid BIGINT,
    -- A retried batch is never stored twice.
    UNIQUE (host_id, seq)
);

CREATE INDEX fleet_events_by_ts ON fleet_events (ts);

-- The hash chain of each host's forwarded events, one link per batch: SHA-256 of the previous link's hash
-- (fleet_hosts.last_hash before the batch) followed by the canonical encoding of each event of the batch in
-- seq order (the local log's columns, encoded as the local hash chain encodes them). `verify --store`
-- recomputes every link from the rows, so a row changed behind the database's triggers is found.
CREATE TABLE fleet_links (
    host_id TEXT NOT NULL,
    -- The highest seq the link covers; it covers the host's seqs after the previous link's.
    last_seq BIGINT NOT NULL,
    hash BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (host_id, last_seq)
);

-- Append-only by the database itself.
CREATE FUNCTION selfheal_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$;

CREATE TRIGGER fleet_events_append_only BEFORE UPDATE OR DELETE ON fleet_events
    FOR EACH ROW EXECUTE FUNCTION selfheal_refuse_change();
CREATE TRIGGER fleet_events_no_truncate BEFORE TRUNCATE ON fleet_events
    FOR EACH STATEMENT EXECUTE FUNCTION selfheal_refuse_change();
CREATE TRIGGER fleet_links_append_only BEFORE UPDATE OR DELETE ON fleet_links
    FOR EACH ROW EXECUTE FUNCTION selfheal_refuse_change();
CREATE TRIGGER fleet_links_no_truncate BEFORE TRUNCATE ON fleet_links
    FOR EACH STATEMENT EXECUTE FUNCTION selfheal_refuse_change();
