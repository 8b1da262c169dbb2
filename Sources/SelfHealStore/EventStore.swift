import CSQLiteTuning
import Foundation
import GRDB
import SelfHealEvents

/// How hard a commit works to survive a crash.
public enum Durability: String, Sendable, CaseIterable {
    /// One fsync per commit: a committed batch survives a crash of the machine (`synchronous=FULL`).
    case full
    /// No fsync per commit: a committed batch survives a crash of the daemon, not of the machine.
    case normal
}

/// Settings of an ``EventStore``.
public struct StoreConfiguration: Sendable {
    /// The database file, usually `DATA_DIR/events.db`.
    public var path: String
    /// How commits are made durable. Default: ``Durability/full``.
    public var durability: Durability
    /// Open without writing (no migrations); for queries beside a running daemon. Default: false.
    public var readOnly: Bool
    /// How long to wait for another connection's lock before failing, in seconds. Default: 10.
    public var busyTimeout: Double

    /// Creates a configuration with the documented defaults.
    public init(path: String, durability: Durability = .full, readOnly: Bool = false, busyTimeout: Double = 10) {
        self.path = path
        self.durability = durability
        self.readOnly = readOnly
        self.busyTimeout = busyTimeout
    }
}

/// Why the store failed, with the cause.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in one line.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }

    static func wrapping(_ error: any Error, _ doing: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? DatabaseError {
            return StoreError("\(doing): \(error.message ?? "SQLite error \(error.resultCode.rawValue)")")
        }
        return StoreError("\(doing): \(error)")
    }
}

/// An event read from a socket, ready to append.
public struct IncomingEvent: Sendable {
    /// The validated event.
    public var event: Event
    /// When the daemon read it, epoch milliseconds.
    public var receivedAt: Int64
    /// Who sent it.
    public var peer: Peer?

    /// Creates an incoming event.
    public init(event: Event, receivedAt: Int64, peer: Peer?) {
        self.event = event
        self.receivedAt = receivedAt
        self.peer = peer
    }

    /// The time it is stored with: its `ts`, else when the daemon read it.
    public var timestamp: Int64 { event.timestamp ?? receivedAt }
}

/// What one append did.
public struct AppendResult: Sendable, Equatable {
    /// For each appended event in order: its new seq, or nil when it was a duplicate.
    public var seqs: [Int64?]
    /// The log's highest seq after the commit.
    public var lastSeq: Int64

    /// Creates a result.
    public init(seqs: [Int64?], lastSeq: Int64) {
        self.seqs = seqs
        self.lastSeq = lastSeq
    }
}

/// Stored events in seq order, as a projection reads them: either rows read back from the log, or the events an
/// append has just inserted, seen in place (the daemon's writer applies every event it commits, so it does not
/// copy them into ``StoredEvent`` values first).
public struct EventBatch: Sendable {
    let stored: [StoredEvent]
    let appended: [IncomingEvent]
    /// For each appended event: its seq, or nil when it was a duplicate and not stored.
    let seqs: [Int64?]

    /// Events read from the log.
    public init(_ stored: [StoredEvent]) {
        self.stored = stored
        appended = []
        seqs = []
    }

    /// Events just appended, with the seq each got (nil for a duplicate, which is skipped).
    init(appended: [IncomingEvent], seqs: [Int64?]) {
        stored = []
        self.appended = appended
        self.seqs = seqs
    }

    /// The seq of the first event; nil when there is none.
    public var firstSeq: Int64? { stored.first?.seq ?? seqs.first { $0 != nil } ?? nil }

    /// Calls `body` with each event in seq order: its seq, its time (the receive time when it gave none), and
    /// the event.
    public func forEachEvent(
        _ body: (_ seq: Int64, _ timestamp: Int64, _ event: borrowing Event) throws -> Void
    ) rethrows {
        for event in stored { try body(event.seq, event.timestamp, event.event) }
        for index in appended.indices {
            guard let seq = seqs[index] else { continue }
            try body(seq, appended[index].timestamp, appended[index].event)
        }
    }

    /// The events as ``StoredEvent`` values (copies), for projections that want them whole.
    public var storedEvents: [StoredEvent] {
        guard stored.isEmpty else { return stored }
        var events: [StoredEvent] = []
        for index in appended.indices {
            guard let seq = seqs[index] else { continue }
            let incoming = appended[index]
            var event = incoming.event
            event.timestamp = incoming.timestamp
            events.append(
                StoredEvent(
                    seq: seq,
                    timestamp: incoming.timestamp,
                    receivedAt: incoming.receivedAt,
                    event: event,
                    peer: incoming.peer
                )
            )
        }
        return events
    }
}

/// Derived state kept in the same transaction as the log (the projections).
public protocol Projection: Sendable {
    /// Creates the projection's state from scratch, dropping what was there.
    func reset(_ db: Database) throws
    /// Applies newly stored events, in seq order, inside the append's transaction.
    func apply(_ events: EventBatch, _ db: Database) throws
    /// Brings the state up to the end of the log (events appended by a writer without this projection);
    /// called when a writable store opens.
    func catchUp(_ db: Database) throws
}

extension Projection {
    /// Does nothing: a projection that cannot fall behind.
    public func catchUp(_ db: Database) throws {}
}

/// The append-only event log in SQLite (SPEC section 4): one database pool per process, migrated on open.
public final class EventStore: Sendable {
    /// The database, for the queries of this module.
    let database: DatabasePool
    let projections: [any Projection]

    /// Opens (creating and migrating when needed) the store.
    public init(_ configuration: StoreConfiguration, projections: [any Projection] = []) throws(StoreError) {
        _ = Self.sqliteTuned
        var config = Configuration()
        config.busyMode = .timeout(configuration.busyTimeout)
        config.readonly = configuration.readOnly
        config.label = "selfheal"
        let synchronous = configuration.durability == .full ? "FULL" : "NORMAL"
        config.prepareDatabase { db in
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            }
        }
        self.projections = projections
        do {
            if !configuration.readOnly {
                let directory = URL(fileURLWithPath: configuration.path).deletingLastPathComponent().path
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } else if !FileManager.default.fileExists(atPath: configuration.path) {
                throw StoreError("no event store at \(configuration.path)")
            }
            database = try DatabasePool(path: configuration.path, configuration: config)
            if !configuration.readOnly {
                try Self.migrator.migrate(database)
                if !projections.isEmpty {
                    try database.write { db in
                        for projection in projections { try projection.catchUp(db) }
                    }
                }
            }
        } catch {
            throw StoreError.wrapping(error, "cannot open the event store at \(configuration.path)")
        }
    }

    /// SQLite's process-wide settings, made once before the first connection opens.
    private static let sqliteTuned: Int32 = selfheal_sqlite_disable_memory_statistics()

    /// The migrations, one per file of `schema/`, in file-name order. Shipped ones never change.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in SchemaSQL.files {
            migrator.registerMigration(migration.name) { db in try db.execute(sql: migration.text) }
        }
        return migrator
    }

    /// Appends events and rejected lines in one transaction (one fsync under ``Durability/full``), and
    /// applies the new events to the projections in the same transaction.
    public func append(_ events: [IncomingEvent], rejects: [RejectedLine] = []) throws(StoreError) -> AppendResult {
        do {
            return try database.write { db in try Self.append(events, rejects: rejects, projections: projections, db) }
        } catch {
            throw StoreError.wrapping(error, "cannot commit to the event store")
        }
    }

    /// Like ``append(_:rejects:)``, suspending instead of blocking while SQLite commits.
    public func appendAsync(
        _ events: [IncomingEvent],
        rejects: [RejectedLine] = []
    ) async throws(StoreError) -> AppendResult {
        let projections = projections
        do {
            return try await database.write { db in
                try Self.append(events, rejects: rejects, projections: projections, db)
            }
        } catch {
            throw StoreError.wrapping(error, "cannot commit to the event store")
        }
    }

    private static func append(
        _ events: [IncomingEvent],
        rejects: [RejectedLine],
        projections: [any Projection],
        _ db: Database
    ) throws -> AppendResult {
        var seqs = [Int64?]()
        seqs.reserveCapacity(events.count)
        var storedCount = 0
        // Tamper evidence: this commit's link of the hash chain (HashChain.swift).
        var link = try ChainLink(db)
        if !events.isEmpty {
            // Bound through the C API: GRDB's StatementArguments allocate per value, which costs more than
            // SQLite's own work at this rate (see PERFORMANCE.md).
            let insert = try FastStatement(
                db,
                sql: """
                    INSERT OR IGNORE INTO events
                        (ts, received_at, service, component, kind, level, message, incident, event_id, attrs,
                         peer_uid, peer_pid)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            )
            for incoming in events {
                let event = incoming.event
                let timestamp = incoming.timestamp
                let kind = event.kind.name
                let level = event.effectiveLevel.name
                insert.bind(1, timestamp)
                insert.bind(2, incoming.receivedAt)
                insert.bind(3, event.service)
                insert.bind(4, event.component)
                insert.bind(5, kind)
                insert.bind(6, level)
                insert.bind(7, event.message)
                insert.bind(8, event.incident)
                insert.bind(9, event.id)
                insert.bind(10, event.attributesJSON)
                insert.bind(11, incoming.peer.map { Int64($0.uid) })
                insert.bind(12, incoming.peer.map { Int64($0.pid) })
                // Read from the connection directly: `db.changesCount` and `db.lastInsertedRowID` check the
                // calling queue each time (about 1% of the ingest's samples).
                if try insert.runCountingChanges() == 0 {
                    seqs.append(nil)
                } else {
                    let seq = insert.lastInsertedRowID
                    seqs.append(seq)
                    storedCount += 1
                    link.add(seq: seq, timestamp: timestamp, incoming: incoming, kind: kind, level: level)
                }
            }
        }
        try link.finish(db)
        if !rejects.isEmpty {
            let insert = try db.cachedStatement(
                sql: "INSERT INTO rejects (received_at, line, error, raw, peer_uid, peer_pid) VALUES (?, ?, ?, ?, ?, ?)"
            )
            for reject in rejects {
                insert.setUncheckedArguments([
                    reject.receivedAt, reject.line, reject.error, Data(reject.raw.prefix(WireLimits.maximumLineBytes)),
                    reject.peer.map { Int64($0.uid) }, reject.peer.map { Int64($0.pid) },
                ])
                try insert.execute()
            }
        }
        if storedCount > 0 {
            let batch = EventBatch(appended: events, seqs: seqs)
            for projection in projections { try projection.apply(batch, db) }
        }
        // seq is the rowid, max + 1 on every insert: the last one inserted is the highest.
        let lastInserted = seqs.last { $0 != nil }.flatMap { $0 }
        let lastSeq = try lastInserted ?? Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0
        return AppendResult(seqs: seqs, lastSeq: lastSeq)
    }

    /// The highest seq in the log; 0 when it is empty.
    public func lastSeq() throws(StoreError) -> Int64 {
        do {
            return try database.read { db in try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0 }
        } catch {
            throw StoreError.wrapping(error, "cannot read the event store")
        }
    }
}
