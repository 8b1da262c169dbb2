import Logging
import NIOCore
import PostgresNIO
import SelfHealEvents
import SelfHealStore

/// Where a host's forwarding stands in the central store: its cursor and the hash of its last link.
struct ForwardCursor: Sendable, Equatable {
    /// The last local seq stored centrally.
    var seq: Int64
    /// The hash of the host's last link (32 zero bytes before the first).
    var hash: [UInt8]
}

/// One connection's forwarding of one host: each batch and the host's cursor in one PostgreSQL transaction.
struct ForwardSession: Sendable {
    let connection: PostgresConnection
    let hostID: String
    let logger: Logger

    /// Registers the host if it is new and returns its cursor.
    func prepare() async throws -> ForwardCursor {
        try await connection.query(
            """
            INSERT INTO fleet_hosts (host_id, forwarded_seq, last_hash) VALUES (\(hostID), 0, \(ByteBuffer(bytes: EventRowsHasher.zero)))
            ON CONFLICT (host_id) DO NOTHING
            """,
            logger: logger
        )
        return try await cursor(lock: false)
    }

    private func cursor(lock: Bool) async throws -> ForwardCursor {
        let rows = try await connection.query(
            lock
                ? "SELECT forwarded_seq, last_hash FROM fleet_hosts WHERE host_id = \(hostID) FOR UPDATE"
                : "SELECT forwarded_seq, last_hash FROM fleet_hosts WHERE host_id = \(hostID)",
            logger: logger
        )
        for try await (seq, hash) in rows.decode((Int64, ByteBuffer).self) {
            return ForwardCursor(seq: seq, hash: Array(hash.readableBytesView))
        }
        throw StoreError("the central store has no fleet_hosts row for host \(hostID)")
    }

    /// Ships `events` (read after `expected.seq`) in one transaction and returns the new cursor. When the central
    /// cursor is not `expected` (a batch whose COMMIT reply was lost did commit), `reload` reads the events after
    /// the central cursor instead, so nothing is stored twice.
    func ship(
        _ events: [StoredEvent],
        expected: ForwardCursor,
        reload: @Sendable (_ after: Int64) throws -> [StoredEvent]
    ) async throws -> ForwardCursor {
        // postgres-nio never answers a query written to a connection that has closed: reconnect instead.
        guard !connection.isClosed else { throw StoreError("the connection to the central store closed") }
        try await connection.query("BEGIN", logger: logger)
        do {
            let central = try await cursor(lock: true)
            let batch = (central == expected ? events : try reload(central.seq)).map(FleetText.storable)
            guard let last = batch.last else {
                try await connection.query("COMMIT", logger: logger)
                return central
            }
            let count = Int64(batch.count)
            var head: Int64 = 0
            for try await value in try await connection.query(
                "UPDATE fleet_head SET last_fleet_seq = last_fleet_seq + \(count) WHERE id = 1 RETURNING last_fleet_seq",
                logger: logger
            ).decode(Int64.self) {
                head = value
            }
            let hasher = EventRowsHasher(previous: central.hash)
            for event in batch { hasher.add(event) }
            let hash = hasher.finish()
            try await copy(batch, firstFleetSeq: head - count + 1)
            try await connection.query(
                """
                WITH link AS (
                    INSERT INTO fleet_links (host_id, last_seq, hash) VALUES (\(hostID), \(last.seq), \(ByteBuffer(bytes: hash)))
                )
                UPDATE fleet_hosts SET forwarded_seq = \(last.seq), last_ts = \(last.timestamp),
                    last_hash = \(ByteBuffer(bytes: hash)), updated_at = now()
                WHERE host_id = \(hostID)
                """,
                logger: logger
            )
            try await connection.query("COMMIT", logger: logger)
            return ForwardCursor(seq: last.seq, hash: hash)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// The fleet_events columns COPY fills, in the order ``CopyRows`` writes them.
    static let columns = [
        "fleet_seq", "host_id", "seq", "ts", "received_at", "service", "component", "kind", "level", "message",
        "incident", "event_id", "attrs", "peer_uid", "peer_pid",
    ]

    private func copy(_ batch: [StoredEvent], firstFleetSeq: Int64) async throws {
        try await connection.copyFrom(table: "fleet_events", columns: Self.columns, logger: logger) { writer in
            var rows = CopyRows(hostID: hostID)
            var fleetSeq = firstFleetSeq
            for event in batch {
                rows.add(event, fleetSeq: fleetSeq)
                fleetSeq += 1
                if rows.buffer.readableBytes >= 1 << 20 { try await writer.write(rows.take()) }
            }
            if rows.buffer.readableBytes > 0 { try await writer.write(rows.take()) }
        }
    }
}

/// Rows in COPY's text format: tab-separated, `\N` for NULL, backslash, tab, newline and carriage return escaped.
struct CopyRows {
    private(set) var buffer = ByteBufferAllocator().buffer(capacity: 1 << 20)
    private let hostID: [UInt8]

    init(hostID: String) {
        var escaped: [UInt8] = []
        Self.escape(hostID, into: &escaped)
        self.hostID = escaped
    }

    /// The rows written so far; the buffer starts empty again.
    mutating func take() -> ByteBuffer {
        let full = buffer
        buffer = ByteBufferAllocator().buffer(capacity: 1 << 20)
        return full
    }

    mutating func add(_ stored: StoredEvent, fleetSeq: Int64) {
        let event = stored.event
        number(fleetSeq)
        buffer.writeBytes(hostID)
        buffer.writeInteger(UInt8(ascii: "\t"))
        number(stored.seq)
        number(stored.timestamp)
        number(stored.receivedAt)
        text(event.service)
        text(event.component)
        text(event.kind.name)
        text(event.effectiveLevel.name)
        text(event.message)
        text(event.incident)
        text(event.id)
        text(event.attributesJSON)
        if let peer = stored.peer {
            number(Int64(peer.uid))
            buffer.writeString(String(peer.pid))
        } else {
            buffer.writeStaticString("\\N\t\\N")
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    private mutating func number(_ value: Int64) {
        buffer.writeString(String(value))
        buffer.writeInteger(UInt8(ascii: "\t"))
    }

    private mutating func text(_ value: String?) {
        defer { buffer.writeInteger(UInt8(ascii: "\t")) }
        guard let value else {
            buffer.writeStaticString("\\N")
            return
        }
        if !value.utf8.contains(where: { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            buffer.writeString(value)
            return
        }
        var escaped: [UInt8] = []
        Self.escape(value, into: &escaped)
        buffer.writeBytes(escaped)
    }

    static func escape(_ value: String, into escaped: inout [UInt8]) {
        for byte in value.utf8 {
            switch byte {
            case 0x5C: escaped += [0x5C, 0x5C]
            case 0x09: escaped += [0x5C, UInt8(ascii: "t")]
            case 0x0A: escaped += [0x5C, UInt8(ascii: "n")]
            case 0x0D: escaped += [0x5C, UInt8(ascii: "r")]
            default: escaped.append(byte)
            }
        }
    }
}

/// PostgreSQL's text cannot hold U+0000, which the wire format allows in `message`, `incident` and `id` (as
/// `\u0000`) and the local log keeps. The fleet stores each U+0000 as U+FFFD, the replacement character, and its
/// links hash the events as stored, so that `verify --store` recomputes them; everything else is forwarded as
/// the host holds it. (`service` and `component` cannot hold U+0000; `attrs` is JSON text, where it is escaped.)
enum FleetText {
    static func storable(_ stored: StoredEvent) -> StoredEvent {
        let event = stored.event
        guard
            [event.message, event.incident, event.id, event.attributesJSON].contains(where: { $0.map(hasNUL) ?? false })
        else { return stored }
        var copy = stored
        copy.event.message = event.message.map(replacingNUL)
        copy.event.incident = event.incident.map(replacingNUL)
        copy.event.id = event.id.map(replacingNUL)
        copy.event.attributesJSON = event.attributesJSON.map(replacingNUL)
        return copy
    }

    private static func hasNUL(_ text: String) -> Bool { text.utf8.contains(0) }

    private static func replacingNUL(_ text: String) -> String {
        hasNUL(text)
            ? String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 })) : text
    }
}
