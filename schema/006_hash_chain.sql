-- Tamper evidence: a SHA-256 hash chain over the event log, one link per commit (see HashChain.swift).
-- A link covers the events with seq in (the previous link's seq, its seq]; its hash is
-- SHA-256(the previous link's hash, or 32 zero bytes for the first, || the canonical encoding of those rows).
-- `selfheal verify` recomputes every link, so an edit or a deletion made with the triggers dropped shows.
-- Shipped migrations never change.

CREATE TABLE chain (
    -- The highest seq the link covers.
    seq INTEGER PRIMARY KEY,
    -- 32 bytes; NULL only for the link that covers the events stored before this migration, until the next
    -- commit hashes them.
    hash BLOB CHECK (hash IS NULL OR length(hash) = 32)
);

-- The events stored before the chain existed become the first link, hashed by the next commit.
INSERT INTO chain (seq, hash) SELECT max(seq), NULL FROM events HAVING max(seq) IS NOT NULL;

CREATE TRIGGER chain_refuse_update BEFORE UPDATE ON chain WHEN OLD.hash IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'the hash chain is append-only: UPDATE refused');
END;

CREATE TRIGGER chain_refuse_delete BEFORE DELETE ON chain
BEGIN
    SELECT RAISE(ABORT, 'the hash chain is append-only: DELETE refused');
END;
