import Foundation
import Logging
import NIOCore
import NIOPosix
import SelfHealHTTP
import SelfHealStore
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `selfheal serve`: takes the data directory's lock, opens the store, and runs the writer and the socket server
/// until SIGTERM or SIGINT, then stops taking connections, commits every complete line read, answers pending
/// syncs and returns.
public enum Daemon {
    /// Runs the daemon in the foreground.
    /// - Parameters:
    ///   - configuration: where and how to serve.
    ///   - logger: start, stop, client errors and commit failures; never one line per event.
    public static func run(_ configuration: ServerConfiguration, logger: Logger) async throws {
        let lock = try DataDirectoryLock(dataDirectory: configuration.dataDirectory)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        let store: EventStore
        do {
            try await refuseLiveSocket(configuration.socketPath, group: group)
            try DataDirectoryModes.prepareStoreFiles(configuration.databasePath)
            store = try EventStore(
                StoreConfiguration(
                    path: configuration.databasePath,
                    durability: configuration.durability,
                    quietPeriod: configuration.quietPeriod,
                    projections: configuration.projections
                )
            )
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let queue = BoundedQueue<Submission>(capacity: configuration.queueCapacity)
        var writer = CommitWriter(store: store, queue: queue, logger: logger)
        var server = IngestServer(configuration: configuration, group: group, queue: queue, logger: logger)
        let http: HTTPAPI?
        let companions: [any Service]
        do {
            http = try configuration.http.map { settings throws(any Error) in
                try HTTPAPI(
                    configuration: settings,
                    store: try EventStore(StoreConfiguration(path: configuration.databasePath, readOnly: true)),
                    writer: HTTPIngestBridge(queue: queue, eventLoop: group.next()),
                    metrics: DaemonMetrics(serviceLimit: settings.metricServiceLimit),
                    queueDepth: { queue.depth },
                    addressFile: configuration.httpAddressPath,
                    eventLoopGroup: group,
                    logger: logger
                )
            }
            companions = try configuration.companions(http?.metrics.factory)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        writer.observer = http
        if let metrics = http?.metrics {
            server.connectionOpened = { metrics.connection(.socket, opened: $0) }
        }
        defer { http?.stopped() }
        // Graceful shutdown runs in reverse order: the companions (the forwarder) stop, HTTP answers its requests
        // (ingest bodies are committed), the socket server drains its connections, then the writer commits what is
        // left.
        let services = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: writer), .init(service: server)]
                    + (http.map { [.init(service: $0.service)] } ?? []) + companions.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await services.run()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
        logger.info("selfheal daemon stopped")
        withExtendedLifetime(lock) {}
    }

    /// A socket file that still answers belongs to a live daemon (of another data directory): never steal it.
    /// One that does not answer was left by a dead daemon and is replaced.
    static func refuseLiveSocket(_ path: String, group: any EventLoopGroup) async throws(ServerError) {
        do {
            _ = try SocketAddress(unixDomainSocketPath: path)
        } catch {
            throw ServerError(
                "cannot listen on \(path): the path is too long for a UNIX socket; choose a shorter --socket"
            )
        }
        let parent = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent.isEmpty ? "." : parent, isDirectory: &isDirectory),
            isDirectory.boolValue
        else {
            throw ServerError("cannot listen on \(path): the directory \(parent) does not exist")
        }
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw ServerError("\(path) exists and is not a socket; remove it or choose another --socket")
        }
        let answered: Bool
        do {
            let channel = try await ClientBootstrap(group: group).connect(unixDomainSocketPath: path).get()
            try? await channel.close()
            answered = true
        } catch {
            answered = false
        }
        if answered { throw ServerError("another daemon is listening on \(path); choose another --socket") }
    }
}
