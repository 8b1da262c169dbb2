import Foundation
import Logging
import NIOPosix
import SelfHealFleet
import SelfHealHTTP
import SelfHealStore
import ServiceLifecycle
import UnixSignals

/// `central --http`: the projector beside the HTTP API and dashboard of SPEC section 9 over the fleet, in one
/// `ServiceGroup` that stops on SIGTERM or SIGINT. The API reads the central store through a ``FleetReader``;
/// its stream learns what the projector (this process's, or another's while this one stands by) changed by
/// polling ``FleetChanges``. Ingest is refused: events reach the fleet through a host's daemon.
enum CentralHTTP {
    static let ingestRefusal =
        "this is the fleet's central store (selfheal central): send events to a host's daemon "
        + "(selfheal serve --forward)"

    static func run(
        projector: CentralProjector,
        url: FleetStoreURL,
        settings: HTTPConfiguration,
        addressFile: String?,
        logger: Logger
    ) async throws {
        var settings = settings
        settings.ingestRefusal = ingestRefusal
        let reader = try FleetReader(url, logger: logger)
        let api = try HTTPAPI(
            configuration: settings,
            store: reader,
            writer: NoIngest(),
            metrics: DaemonMetrics(serviceLimit: settings.metricServiceLimit),
            queueDepth: { 0 },
            addressFile: addressFile,
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger
        )
        defer { api.stopped() }
        let services = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: ProjectorService(projector: projector)),
                    .init(service: ChangeWatcher(reader: reader, api: api, logger: logger)),
                    .init(service: api.service),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await services.run()
    }

    /// The projector as a service: it stops after the batch it is writing on graceful shutdown.
    struct ProjectorService: Service {
        let projector: CentralProjector

        func run() async throws {
            try await withGracefulShutdownHandler {
                try await projector.run()
            } onGracefulShutdown: {
                projector.stop()
            }
        }
    }

    /// Tells the API's stream what the projector changed, twice a second.
    struct ChangeWatcher: Service {
        let reader: FleetReader
        let api: HTTPAPI
        let logger: Logger

        func run() async throws {
            var changes: FleetChanges?
            var failing = false
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                do {
                    let current = changes
                    let (next, found) = try await NIOThreadPool.singleton.runIfActive { [reader] in
                        var looked = try current ?? FleetChanges(reader)
                        let found = try looked.poll(reader)
                        return (looked, found)
                    }
                    changes = next
                    api.observed(lastSeq: found.applied, changedIncidents: found.changed)
                    if failing { logger.notice("the stream reads the central store again") }
                    failing = false
                } catch {
                    if !failing { logger.warning("the stream cannot read the central store: \(error)") }
                    failing = true
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// The API's writer on a server that stores no events (never called: ingest is refused first).
    struct NoIngest: IngestWriter {
        func commit(_ body: IngestBody, waitingAtMost wait: Duration) async -> IngestOutcome { .shuttingDown }
    }
}
