import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SelfHealStore
import Synchronization

/// The query API (``StoreReader``) over the fleet's central store (SPEC section 10): the events of
/// `fleet_events` (their seq is the `fleet_seq`, and each carries its host), the incidents and figures the
/// central projector keeps in `fleet_incidents` and `fleet_counters`, shown by the same code as a local store's
/// (the quiet rule, the figures' arithmetic). The fleet keeps no rejected lines.
///
/// Its calls block: each runs in one read-only `REPEATABLE READ` transaction (one snapshot of the fleet, however
/// many queries it makes) on a connection of a small pool, waiting on postgres-nio's futures; call them from a
/// thread that is not an event loop (the command line's, or the HTTP API's thread pool). A pooled connection
/// that the server dropped is replaced by a new one on the next call.
public final class FleetReader: StoreReader {
    /// The central store.
    public let url: FleetStoreURL
    let logger: Logger
    private let eventLoopGroup: any EventLoopGroup
    private let idle = Mutex<[PostgresConnection]>([])
    /// Rows fetched per query when a read pages through a range.
    let pageSize: Int

    /// The most idle connections kept for the next calls; more are closed.
    static let maximumIdle = 4

    /// Connects to the central store and checks that it holds the fleet's schema, so that a store that cannot
    /// be read fails here with one line that names it.
    /// - Parameter pageSize: the most rows one query fetches when a read pages through a range (events,
    ///   incidents); default 5,000.
    public init(
        _ url: FleetStoreURL,
        logger: Logger = Logger(label: "selfheal.fleet.reader"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        pageSize: Int = 5_000
    ) throws(StoreError) {
        self.url = url
        self.pageSize = max(1, pageSize)
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
        let present = try read("cannot read the central store") { session in
            let rows = try session.query("SELECT to_regclass('fleet_incidents') IS NOT NULL")
            return try rows.first?.decode(Bool.self) ?? false
        }
        guard present else {
            throw StoreError(
                "the central store \(url) has no fleet schema: start 'selfheal central --store \(url)' on it first"
            )
        }
    }

    deinit { close() }

    /// Closes the idle connections (a call after this opens new ones); waits for them to close unless called on
    /// an event loop.
    public func close() {
        let connections = idle.withLock { connections in
            defer { connections = [] }
            return connections
        }
        let onEventLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
        for connection in connections {
            let closed: EventLoopFuture<Void> = connection.close()
            if !onEventLoop { try? closed.wait() }
        }
    }

    /// Runs `body` in one read-only transaction on a pooled connection. When the connection fails before the
    /// transaction starts (one the server dropped while it was idle), a new one is tried once; a failure later
    /// is an error (the body may have passed rows on already).
    func read<T>(_ doing: String, _ body: (FleetSession) throws -> T) throws(StoreError) -> T {
        var retried = false
        while true {
            let connection = try takeConnection()
            let session = FleetSession(connection: connection, logger: logger)
            do {
                _ = try session.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            } catch {
                _ = try? connection.close().wait()
                if !retried {
                    retried = true
                    continue
                }
                throw StoreError("\(doing) from the central store \(url): \(FleetDatabase.describe(error))")
            }
            do {
                let result = try body(session)
                _ = try session.query("COMMIT")
                giveBack(connection)
                return result
            } catch {
                if connection.isClosed {
                    _ = try? connection.close().wait()
                } else if (try? session.query("ROLLBACK")) != nil {
                    giveBack(connection)
                } else {
                    _ = try? connection.close().wait()
                }
                if let error = error as? StoreError { throw error }
                throw StoreError("\(doing) from the central store \(url): \(FleetDatabase.describe(error))")
            }
        }
    }

    private func takeConnection() throws(StoreError) -> PostgresConnection {
        while let connection = idle.withLock({ $0.popLast() }) {
            if !connection.isClosed { return connection }
            _ = try? connection.close().wait()
        }
        do {
            return try PostgresConnection.connect(
                on: eventLoopGroup.any(),
                configuration: url.configuration,
                id: Self.nextConnectionID(),
                logger: logger
            ).wait()
        } catch {
            throw StoreError("cannot connect to the central store \(url): \(FleetDatabase.describe(error))")
        }
    }

    private func giveBack(_ connection: PostgresConnection) {
        let kept = idle.withLock { connections in
            guard connections.count < Self.maximumIdle else { return false }
            connections.append(connection)
            return true
        }
        if !kept { _ = try? connection.close().wait() }
    }

    private static let connectionIDs = Atomic<Int>(0)

    private static func nextConnectionID() -> Int {
        connectionIDs.wrappingAdd(1, ordering: .relaxed).newValue
    }
}

/// One connection inside a read's transaction: queries that block until their rows have come.
struct FleetSession {
    let connection: PostgresConnection
    let logger: Logger

    /// Runs a query and waits for all its rows.
    func query(_ query: PostgresQuery) throws -> [PostgresRow] {
        try connection.query(query, logger: logger).wait().rows
    }
}
