import CoreMetrics
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import SelfHealEvents
import SelfHealStore
import ServiceLifecycle

/// The daemon's HTTP side (SPEC section 9): a Hummingbird application on the daemon's event loops, serving the
/// query API from a read-only store, ingest into the daemon's writer, `/metrics`, `/healthz` and the stream.
/// It hears every commit (``CommitObserver``) for its health, metrics and stream.
public final class HTTPAPI: CommitObserver {
    /// The metrics the daemon records into; `/metrics` emits them.
    public let metrics: DaemonMetrics
    private let configuration: HTTPConfiguration
    private let responder: APIResponder
    private let publisher: StreamPublisher
    private let health = WriterHealth()
    private let changes = PendingChanges()
    private let eventLoopGroup: any EventLoopGroup
    private let addressFile: String?
    private let logger: Logger

    /// Prepares the HTTP side; ``service`` runs it.
    /// - Parameters:
    ///   - configuration: where to listen, tokens, limits.
    ///   - store: the store the API reads: a local store opened read-only beside the writer's, or the fleet's.
    ///   - writer: where ingest bodies go: the daemon's single writer.
    ///   - metrics: the daemon's metrics.
    ///   - queueDepth: how many events wait for the writer now.
    ///   - addressFile: a file to write the bound `host:port` into (removed on stop), for scripts and tests.
    ///   - eventLoopGroup: the daemon's event loops.
    ///   - logger: start, stop and failures; never tokens, never a line per request.
    public init(
        configuration: HTTPConfiguration,
        store: any StoreReader,
        writer: any IngestWriter,
        metrics: DaemonMetrics,
        queueDepth: @escaping @Sendable () -> Int,
        addressFile: String?,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) throws(HTTPSetupError) {
        try configuration.validate()
        self.configuration = configuration
        self.metrics = metrics
        self.eventLoopGroup = eventLoopGroup
        self.addressFile = addressFile
        self.logger = logger
        let queries = Queries(store: store)
        let hub = EventHub(
            boot: WallClock.nowMillis(),
            history: configuration.streamHistory,
            buffer: configuration.streamBuffer
        )
        responder = APIResponder(
            configuration: configuration,
            queries: queries,
            writer: writer,
            metrics: metrics,
            health: health,
            hub: hub,
            permits: BodyPermits(configuration.maximumBodiesInFlight) { held, waiting in
                metrics.ingestBodies.record(held)
                metrics.ingestWaiting.record(waiting)
            },
            queueDepth: queueDepth,
            logger: logger
        )
        publisher = StreamPublisher(hub: hub, queries: queries, changes: changes, logger: logger)
    }

    /// The service to run in the daemon's `ServiceGroup`; on graceful shutdown it stops accepting, answers
    /// the requests it has (ingest bodies are committed first: the writer stops after it), then returns.
    public var service: any Service {
        let metrics = metrics
        let addressFile = addressFile
        let logger = logger
        let address = configuration.address
        var http1 = HTTP1Channel.Configuration()
        http1.idleTimeout = TimeAmount.nanoseconds(Int64(configuration.idleTimeout / .nanoseconds(1)))
        return Application(
            responder: responder,
            server: .http1(configuration: http1),
            configuration: ApplicationConfiguration(
                address: .hostname(address.host, port: address.port),
                serverName: nil,
                availableConnectionsDelegate: ConnectionCounter(metrics: metrics, limit: 1_024)
            ),
            services: [publisher],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                let bound = ListenAddress(host: address.host, port: port)
                if let addressFile {
                    try? Data("\(bound)\n".utf8).write(to: URL(fileURLWithPath: addressFile), options: .atomic)
                }
                logger.info("selfheal http listening", metadata: ["http": "\(bound)"])
            },
            eventLoopGroupProvider: .shared(eventLoopGroup),
            logger: logger
        )
    }

    /// Removes the address file (the daemon calls it once the service has stopped).
    public func stopped() {
        if let addressFile { try? FileManager.default.removeItem(atPath: addressFile) }
    }

    public func committed(_ report: CommitReport) {
        health.succeeded()
        metrics.commits.increment()
        metrics.commitDuration.recordNanoseconds(Int64(report.duration / .nanoseconds(1)))
        metrics.eventsPerCommit.record(report.events)
        metrics.lastSeq.record(report.lastSeq)
        for (transport, counts) in report.counts {
            let counters = metrics.transport(transport)
            if counts.accepted > 0 { counters.accepted.increment(by: counts.accepted) }
            if counts.duplicates > 0 { counters.duplicates.increment(by: counts.duplicates) }
            if counts.rejected > 0 { counters.rejected.increment(by: counts.rejected) }
        }
        changes.note(report)
    }

    /// Changes that another process made to the store read (the central projector's, for `central --http`):
    /// the stream publishes them as it does a commit's, with no commit counted in the metrics.
    public func observed(lastSeq: Int64, changedIncidents: [Int64]) {
        health.succeeded()
        metrics.lastSeq.record(lastSeq)
        changes.note(
            CommitReport(duration: .zero, events: 0, counts: [:], lastSeq: lastSeq, changedIncidents: changedIncidents)
        )
    }

    public func commitFailed(_ message: String, duration: Duration) {
        health.failed(message)
        metrics.commitFailures.increment()
        metrics.commitDuration.recordNanoseconds(Int64(duration / .nanoseconds(1)))
    }
}

/// Counts the HTTP connections for `selfheal_connections{transport="http"}` and stops accepting above a limit.
struct ConnectionCounter: AvailableConnectionsDelegate {
    let metrics: DaemonMetrics
    let limit: Int
    var open = 0

    init(metrics: DaemonMetrics, limit: Int) {
        self.metrics = metrics
        self.limit = limit
    }

    mutating func connectionOpened() {
        open += 1
        metrics.connection(.http, opened: true)
    }

    mutating func connectionClosed() {
        open -= 1
        metrics.connection(.http, opened: false)
    }

    func isAcceptingNewConnections() -> Bool { open < limit }
}
