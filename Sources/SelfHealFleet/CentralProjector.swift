import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SelfHealEvents
import SelfHealStore
import Synchronization

/// `selfheal central`'s projector (SPEC section 10): applies the rules of section 5 to the fleet log in fleet_seq
/// order, with the local store's ``IncidentLedger`` (one implementation of the rules), writing the fleet's
/// incidents and counters in the transaction that moves its cursor.
///
/// Only the holder of the advisory lock ``FleetDatabase/projectorLock``, taken on a session of its own, applies;
/// the others poll for it every second, so one takes over within about a second of the holder's connection
/// closing (PostgreSQL releases a session's advisory locks when its backend sees the connection go, which a
/// SIGKILLed process's kernel does at once). Each batch's transaction also checks that the cursor is where this
/// projector left it, so two appliers never both write, even for a moment.
///
/// It runs on a thread of its own: the ledger looks active incidents up synchronously, waiting on postgres-nio's
/// futures, which must never happen on an event loop or in the concurrency pool.
public final class CentralProjector: Sendable {
    /// What it is configured with.
    public struct Options: Sendable {
        /// The central store.
        public var url: FleetStoreURL
        /// Events read and applied per transaction.
        public var batchSize: Int = defaultBatchSize
        /// The most active incidents kept in memory between batches.
        public var workingSetLimit: Int = defaultWorkingSetLimit
        /// ``batchSize`` unless set: `central --batch-size`'s default.
        public static let defaultBatchSize = 10_000
        /// ``workingSetLimit`` unless set: `central --working-set`'s default.
        public static let defaultWorkingSetLimit = 100_000
        /// How often a waiting process tries for the lock.
        public var lockPoll: Duration = .seconds(1)
        /// How long it waits before looking for new events again when it has applied all.
        public var idlePoll: Duration = .milliseconds(100)
        /// Stop once the cursor reaches the log's head (for benchmarks and replays), instead of waiting.
        public var stopWhenCaughtUp = false

        /// Options for a store.
        public init(url: FleetStoreURL) { self.url = url }
    }

    let options: Options
    let logger: Logger
    private let applied = Atomic<Int64>(0)
    private let stopping = Atomic<Bool>(false)

    /// A projector; ``run()`` starts it.
    public init(_ options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Events this process applied so far.
    public var eventsApplied: Int64 { applied.load(ordering: .relaxed) }

    /// Asks ``run()`` to return after the batch it is writing (a graceful shutdown).
    public func stop() { stopping.store(true, ordering: .relaxed) }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// Runs on a new thread until the store cannot be used for a reason a retry will not fix (or, with
    /// ``Options/stopWhenCaughtUp``, until caught up).
    public func run() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread { [self] in
                do {
                    try loop()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "selfheal-central"
            thread.start()
        }
    }

    /// Connects, waits for the lock, applies; reconnects when the store goes away.
    private func loop() throws {
        var wentAway = false
        var delay: Duration = .milliseconds(200)
        while true {
            do {
                let caughtUp = try session(reconnected: wentAway)
                if caughtUp || isStopping { return }
            } catch let error as StoreError {
                // The log itself is wrong (a row that does not decode, a gap): reconnecting would not fix it.
                throw error
            } catch {
                if isStopping { return }
                if !wentAway {
                    logger.warning("the central store went away: \(FleetDatabase.describe(error))")
                    wentAway = true
                }
                Thread.sleep(forTimeInterval: Self.seconds(delay))
                delay = min(delay * 2, .seconds(2))
                continue
            }
        }
    }

    /// One pair of sessions (the lock's and the work's): returns true when caught up with
    /// ``Options/stopWhenCaughtUp``, or asked to stop.
    private func session(reconnected: Bool) throws -> Bool {
        let lockConnection = try Self.connect(options.url, logger: logger)
        defer { _ = try? lockConnection.close().wait() }
        let connection = try Self.connect(options.url, logger: logger)
        defer { _ = try? connection.close().wait() }
        if reconnected { logger.notice("the central store is back") }
        var waited = false
        while try !Self.tryLock(lockConnection, logger: logger) {
            if isStopping { return true }
            if !waited { logger.notice("another central applies the fleet log: waiting to take over") }
            waited = true
            Thread.sleep(forTimeInterval: Self.seconds(options.lockPoll))
        }
        // The projections are derived, and each batch's rows commit with the cursor: a commit lost in a crash of
        // the server is lost with its cursor, and applied again. So commits need not wait for the disk.
        _ = try connection.query("SET synchronous_commit TO off", logger: logger).wait()
        var ledger = try load(connection)
        logger.notice(
            "\(waited ? "took over applying" : "applying") the fleet log from fleet_seq \(ledger.lastSeq + 1)"
        )
        // Two more sessions: one reads ahead (the next batch is fetched and decoded on an event loop while this
        // one is applied), one looks up the active incidents the working set does not hold while the previous
        // batch is still being written on `connection`. Those lookups may see the store as it was before that
        // batch: the ledger keeps what that batch touched in memory and knows which incidents it ended.
        let reader = try Self.connect(options.url, logger: logger)
        defer { _ = try? reader.close().wait() }
        let lookups = try Self.connect(options.url, logger: logger)
        defer { _ = try? lookups.close().wait() }
        let source = FleetIncidentSource(connection: lookups, logger: logger)
        var next = fetch(reader, after: ledger.lastSeq)
        var pendingCount: Int64 = 0
        // The previous batch's transaction, at most one in flight; the next is sent once it has committed. On an
        // error the sessions close with it in flight: it commits with its cursor or not at all, and the next
        // session loads the ledger from what the store holds. (Never wait on a closed session's queries:
        // postgres-nio does not answer them.)
        var writing: EventLoopFuture<Void>?
        func finishWriting() throws {
            guard let pending = writing else { return }
            writing = nil
            try pending.wait()
            applied.wrappingAdd(pendingCount, ordering: .relaxed)
        }
        while !isStopping {
            // The lock's session gone means another process may take over: stop writing at once.
            if lockConnection.isClosed { throw LockLost() }
            let events = try next.wait()
            guard let last = events.last?.seq else {
                try finishWriting()
                if options.stopWhenCaughtUp { return true }
                Thread.sleep(forTimeInterval: Self.seconds(options.idlePoll))
                next = fetch(reader, after: ledger.lastSeq)
                continue
            }
            let previous = ledger.lastSeq
            guard events.first?.seq == previous + 1 else {
                throw StoreError(
                    "the fleet log has no fleet_seq \(previous + 1) after \(previous): run 'selfheal verify --store'"
                )
            }
            next = fetch(reader, after: last)
            // On an error the ledger no longer matches the database: the next session loads it again.
            try source.prefetch(events, for: ledger)
            try ledger.apply(EventBatch(events), source: source)
            try finishWriting()
            if lockConnection.isClosed { throw LockLost() }
            writing = FleetProjectionWriter.send(ledger, after: previous, connection, logger: logger)
            pendingCount = Int64(events.count)
        }
        try finishWriting()
        _ = try? next.wait()
        return true
    }

    /// The batch of events after `fleetSeq`, decoded on the connection's event loop.
    private func fetch(_ reader: PostgresConnection, after fleetSeq: Int64) -> EventLoopFuture<[StoredEvent]> {
        reader.query(
            """
            SELECT \(unescaped: FleetRows.projectionColumns) FROM fleet_events
            WHERE fleet_seq > \(fleetSeq) ORDER BY fleet_seq LIMIT \(options.batchSize)
            """,
            logger: logger
        ).flatMapThrowing { result in
            var decoder = FleetRows.ProjectionDecoder()
            var events: [StoredEvent] = []
            events.reserveCapacity(result.rows.count)
            for row in result.rows { events.append(try decoder.event(row)) }
            return events
        }
    }

    /// The ledger as the central store holds it: the most recently opened active incidents in memory, the keys
    /// of the others in its filter.
    func load(_ connection: PostgresConnection) throws -> IncidentLedger {
        let settings = try connection.query(
            """
            SELECT (SELECT quiet_period_ms FROM fleet_settings WHERE id = 1),
                (SELECT last_fleet_seq FROM fleet_projection_state WHERE id = 1),
                (SELECT coalesce(max(id), 0) FROM fleet_incidents)
            """,
            logger: logger
        ).wait()
        guard let row = settings.rows.first else { throw StoreError("the central store has no settings row") }
        let (quietPeriod, lastSeq, maxID) = try row.decode((Int64, Int64, Int64).self)
        let limit = options.workingSetLimit
        let activeSQL = "FROM fleet_incidents WHERE ended_at IS NULL ORDER BY opened_at DESC, id DESC"
        let active = try connection.query(
            "SELECT \(unescaped: FleetRows.incidentColumns) \(unescaped: activeSQL) LIMIT \(Int64(limit))",
            logger: logger
        ).wait().rows.map(FleetRows.incident)
        var evicted = EvictedKeys()
        var evictedCount = 0
        if active.count == limit {
            let rest = try connection.query(
                "SELECT service, incident, component \(unescaped: activeSQL) OFFSET \(Int64(limit))",
                logger: logger
            ).wait()
            for row in rest.rows {
                let (service, incident, component) = try row.decode((String, String?, String).self)
                evicted.insert(
                    IncidentKey(service: service, name: incident ?? component, byIncident: incident != nil).hash
                )
                evictedCount += 1
            }
        }
        return IncidentLedger(
            quietPeriod: quietPeriod,
            workingSetLimit: limit,
            nextID: maxID + 1,
            lastSeq: lastSeq,
            active: active,
            evicted: evicted,
            evictedCount: evictedCount
        )
    }

    /// Tries for the projector's advisory lock once.
    static func tryLock(_ connection: PostgresConnection, logger: Logger) throws -> Bool {
        let rows = try connection.query(
            "SELECT pg_try_advisory_lock(\(FleetDatabase.projectorLock))",
            logger: logger
        ).wait()
        return try rows.rows.first?.decode(Bool.self) ?? false
    }

    /// Opens a connection, waiting on its future (off the event loops).
    static func connect(_ url: FleetStoreURL, logger: Logger) throws -> PostgresConnection {
        try PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.any(),
            configuration: url.configuration,
            id: Int.random(in: 1...Int(Int32.max)),
            logger: logger
        ).wait()
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}

/// The session holding the projector's lock closed: another process may take over, so this one stops writing.
struct LockLost: Error, CustomStringConvertible {
    var description: String { "the session holding the projector's lock closed" }
}

extension CentralProjector {
    /// Migrates the central store's schema and, when one is asked for, settles its quiet period.
    public static func prepare(_ url: FleetStoreURL, quietPeriod: Int64?, logger: Logger) async throws(StoreError) {
        let connection = try await FleetDatabase.connectWaiting(url, logger: logger)
        do {
            try await FleetDatabase.migrate(connection, logger: logger)
            if let quietPeriod { try await settleQuietPeriod(quietPeriod, connection, logger: logger) }
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
    }

    /// Sets the central store's quiet period (SPEC section 5) while nothing has been applied yet; after that, a
    /// different one is an error naming both (as `serve --quiet-period` on an existing local store).
    static func settleQuietPeriod(
        _ quietPeriod: Int64,
        _ connection: PostgresConnection,
        logger: Logger
    ) async throws(StoreError) {
        let current: Int64
        do {
            try await connection.query(
                """
                UPDATE fleet_settings SET quiet_period_ms = \(quietPeriod)
                WHERE id = 1 AND (SELECT last_fleet_seq FROM fleet_projection_state WHERE id = 1) = 0
                    AND NOT EXISTS (SELECT 1 FROM fleet_incidents)
                """,
                logger: logger
            )
            let rows = try await connection.query(
                "SELECT quiet_period_ms FROM fleet_settings WHERE id = 1",
                logger: logger
            )
            var value: Int64?
            for try await found in rows.decode(Int64.self) { value = found }
            current = value ?? QuietPeriod.defaultMilliseconds
        } catch {
            throw StoreError("cannot set the central store's quiet period: \(FleetDatabase.describe(error))")
        }
        guard current == quietPeriod else {
            throw StoreError(
                "the central store's quiet period is \(Timestamp.formatDuration(current)), not "
                    + "\(Timestamp.formatDuration(quietPeriod)) as asked: it is set before the first event is applied"
            )
        }
    }
}
