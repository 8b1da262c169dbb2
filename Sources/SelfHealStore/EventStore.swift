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
    /// The quiet period to create the store with (milliseconds, 1 minute to 30 days); on an existing store an
    /// other value than its own is an error. Default: nil, the store's own (4 hours for a new store).
    public var quietPeriod: Int64?
    /// Keep the projections in the append's transactions. Default: true; false only to measure the log alone.
    public var projections: Bool
    /// The most active incidents the projections keep in memory (the others are found in SQLite).
    /// Default: 20,000.
    public var workingSetLimit: Int

    /// Creates a configuration with the documented defaults.
    public init(
        path: String,
        durability: Durability = .full,
        readOnly: Bool = false,
        busyTimeout: Double = 10,
        quietPeriod: Int64? = nil,
        projections: Bool = true,
        workingSetLimit: Int = 20_000
    ) {
        self.path = path
        self.durability = durability
        self.readOnly = readOnly
        self.busyTimeout = busyTimeout
        self.quietPeriod = quietPeriod
        self.projections = projections
        self.workingSetLimit = workingSetLimit
    }
}

/// The quiet period's bounds and default (SPEC section 5), milliseconds.
public enum QuietPeriod {
    /// 4 hours, PagerDuty's default auto-resolve timeout.
    public static let defaultMilliseconds: Int64 = 4 * 3_600_000
    /// At least 1 minute, at most 30 days.
    public static let allowed: ClosedRange<Int64> = 60_000...(30 * 86_400_000)
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
    /// The ids of the incidents the commit opened, changed or ended.
    public var changedIncidents: [Int64]

    /// Creates a result.
    public init(seqs: [Int64?], lastSeq: Int64, changedIncidents: [Int64] = []) {
        self.seqs = seqs
        self.lastSeq = lastSeq
        self.changedIncidents = changedIncidents
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
}

/// Derived state kept in the same transaction as the log (the projections).
public protocol Projection: Sendable {
    /// Creates the projection's state from scratch, dropping what was there.
    func reset(_ db: Database) throws
    /// Applies newly stored events, in seq order, inside the append's transaction; returns the ids of the
    /// incidents they opened, changed or ended (none for a projection that keeps no incidents).
    func apply(_ events: EventBatch, _ db: Database) throws -> [Int64]
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

    /// Opens the store. A writable store is created and migrated when needed and keeps the standard
    /// projections (the incidents and counters of SPEC section 5), brought up to the end of the log; a
    /// read-only one (``StoreConfiguration/readOnly``) reads beside a running daemon and never writes.
    /// - Parameter projections: other projections instead of the standard ones (for tests).
    public init(_ configuration: StoreConfiguration, projections: [any Projection]? = nil) throws(StoreError) {
        _ = Self.sqliteTuned
        var config = Configuration()
        config.busyMode = .timeout(configuration.busyTimeout)
        config.readonly = configuration.readOnly
        config.label = "selfheal"
        let synchronous = configuration.durability == .full ? "FULL" : "NORMAL"
        config.prepareDatabase { db in
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
                // Statement journals in memory: a multi-row INSERT in a transaction journals every page it
                // changes, which in a temporary file doubled the pages the writer wrote.
                try db.execute(sql: "PRAGMA temp_store = MEMORY")
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(EventStore.autocheckpointPages)")
            }
        }
        if configuration.readOnly {
            self.projections = []
        } else if let projections {
            self.projections = projections
        } else {
            self.projections =
                configuration.projections ? [IncidentProjection(workingSetLimit: configuration.workingSetLimit)] : []
        }
        if let quietPeriod = configuration.quietPeriod, !QuietPeriod.allowed.contains(quietPeriod) {
            throw StoreError("the quiet period must be between 1 minute and 30 days")
        }
        do {
            if !configuration.readOnly {
                let directory = URL(fileURLWithPath: configuration.path).deletingLastPathComponent().path
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } else if !FileManager.default.fileExists(atPath: configuration.path) {
                throw StoreError("no event store at \(configuration.path)")
            }
            database = try DatabasePool(path: configuration.path, configuration: config)
            if configuration.readOnly {
                let current = try database.read { db in try Self.migrator.hasCompletedMigrations(db) }
                guard current else {
                    throw StoreError(
                        "the store was written by an older selfheal: start 'selfheal serve' on it, or run "
                            + "'selfheal rebuild', to bring it up to date"
                    )
                }
            } else {
                let isNew = try database.read { db in try Self.migrator.appliedIdentifiers(db).isEmpty }
                try Self.migrator.migrate(database)
                try database.write { db in
                    try Self.settle(quietPeriod: configuration.quietPeriod, isNew: isNew, db)
                    for projection in self.projections { try projection.catchUp(db) }
                }
            }
        } catch {
            throw StoreError.wrapping(error, "cannot open the event store at \(configuration.path)")
        }
    }

    /// Sets the quiet period of a new store, or checks an existing store's against the one asked for.
    private static func settle(quietPeriod: Int64?, isNew: Bool, _ db: Database) throws {
        guard let quietPeriod else { return }
        if isNew {
            try db.execute(sql: "UPDATE store_settings SET quiet_period_ms = ? WHERE id = 1", arguments: [quietPeriod])
            return
        }
        let current = try Self.quietPeriod(db)
        guard current == quietPeriod else {
            throw StoreError(
                "the store's quiet period is \(Timestamp.formatDuration(current)), not "
                    + "\(Timestamp.formatDuration(quietPeriod)) as asked: 'selfheal rebuild --quiet-period "
                    + "\(Timestamp.formatDuration(quietPeriod))' changes it by replaying the log"
            )
        }
    }

    /// The store's quiet period, milliseconds.
    static func quietPeriod(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT quiet_period_ms FROM store_settings WHERE id = 1")
            ?? QuietPeriod.defaultMilliseconds
    }

    /// The store's quiet period, milliseconds (SPEC section 5).
    public func quietPeriod() throws(StoreError) -> Int64 {
        do {
            return try database.read { db in try Self.quietPeriod(db) }
        } catch {
            throw StoreError.wrapping(error, "cannot read the event store")
        }
    }

    /// Pages in the WAL (32 MiB of 4 KiB pages) before a commit copies them into the database. SQLite's default,
    /// 1,000, made the writer copy the pages it changes most (the ends of the indexes, the newest incidents) eight
    /// times as often: on the mixed workload, 8,000 gave 72,000-81,000 events/s with projections against
    /// 68,000-70,000 (README, "Benchmarks: keys, memory and the mixed workload").
    static let autocheckpointPages = 8_000

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
        var changed: [Int64] = []
        if storedCount > 0 {
            let batch = EventBatch(appended: events, seqs: seqs)
            for projection in projections { changed += try projection.apply(batch, db) }
        }
        // seq is the rowid, max + 1 on every insert: the last one inserted is the highest.
        let lastInserted = seqs.last { $0 != nil }.flatMap { $0 }
        let lastSeq = try lastInserted ?? Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0
        return AppendResult(seqs: seqs, lastSeq: lastSeq, changedIncidents: changed)
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
