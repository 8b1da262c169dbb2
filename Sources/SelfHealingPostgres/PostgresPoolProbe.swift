import Logging
import PostgresNIO
import SelfHealing
import ServiceLifecycle

/// One reading of a PostgreSQL server's connections.
public struct PostgresConnectionReading: Sendable, Equatable {
    /// Client connections open now (`pg_stat_activity`, client backends), the probe's own included.
    public var used: Int
    /// The server's `max_connections`.
    public var max: Int
    /// The level the reading put the pool at.
    public var level: PoolLevel
}

/// Watches a PostgreSQL server's client connections against its `max_connections`, the users' first incident
/// ("FATAL: sorry, too many clients already"): `pool.warning` at 85%, `pool.critical` at 92%, `pool.recovered` once
/// back under 85% (the thresholds are configurable), each on a change of level only, through a ``PoolMonitor``.
///
/// Run it as a swift-service-lifecycle `Service` (it reads every `interval` until graceful shutdown), or call
/// ``probe()`` yourself. It asks through the service's own `PostgresClient`, so it needs no connection of its own
/// while the pool has one to lend.
public final class PostgresPoolProbe: Service, Sendable {
    /// The query: client backends and the server's limit, in one round trip.
    public static let query: PostgresQuery = """
        SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int8,
               current_setting('max_connections')::int8
        """

    /// The client asked.
    public let client: PostgresClient
    /// The monitor that decides levels and emits.
    public let monitor: PoolMonitor
    /// How often ``run()`` reads.
    public let interval: Duration
    private let logger: Logger

    /// Creates a probe.
    /// - Parameters:
    ///   - client: the service's PostgreSQL client (its `run()` must be running).
    ///   - reporter: where events go; the component is `component`.
    ///   - component: the resource the events are about. Default `db-pool`.
    ///   - thresholds: the levels. Default 85% and 92%.
    ///   - interval: how often ``run()`` reads. Default 5 s.
    ///   - logger: where failed readings are logged.
    public init(
        client: PostgresClient,
        reporter: EventReporter,
        component: String = "db-pool",
        thresholds: PoolThresholds = PoolThresholds(),
        interval: Duration = .seconds(5),
        logger: Logger = Logger(label: "selfheal.postgres")
    ) {
        self.client = client
        monitor = PoolMonitor(thresholds: thresholds, reporter: reporter.component(component))
        self.interval = interval
        self.logger = logger
    }

    /// Reads the server's connections once and reports a change of level.
    @discardableResult
    public func probe() async throws -> PostgresConnectionReading {
        let rows = try await client.query(Self.query, logger: logger)
        for try await (used, max) in rows.decode((Int64, Int64).self) {
            let level = monitor.record(used: Int(used), max: Int(max))
            return PostgresConnectionReading(used: Int(used), max: Int(max), level: level)
        }
        throw PostgresProbeError("the server answered the connection query with no row")
    }

    /// Reads every ``interval`` until graceful shutdown or cancellation; a failed reading is logged, not fatal
    /// (a server refusing connections is what the next reading will show).
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.probe()
                } catch is CancellationError {
                    return
                } catch {
                    self.logger.warning("PostgreSQL pool probe failed: \(String(reflecting: error))")
                }
                try? await Task.sleep(for: self.interval)
            }
        }
    }
}

/// A probe that could not read the server.
public struct PostgresProbeError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var description: String
    init(_ description: String) { self.description = description }
}
