import CoreMetrics
import NIOCore
import SelfHealHTTP
import SelfHealStore
import ServiceLifecycle

/// Settings of the daemon, with documented defaults.
public struct ServerConfiguration: Sendable {
    /// The data directory; the store is `events.db` inside it.
    public var dataDirectory: String
    /// The UNIX socket path. Default: `DATA_DIR/ingest.sock`.
    public var socketPath: String
    /// The socket file's permission bits. Default: `0o660`.
    public var socketMode: UInt16
    /// How commits are made durable. Default: ``Durability/full``.
    public var durability: Durability
    /// How many events may wait for the writer before the daemon stops reading from clients. Default: 8,192.
    public var queueCapacity: Int
    /// How many sync replies a connection may have pending before the daemon stops reading from it. Default: 256.
    public var pendingRepliesPerConnection: Int
    /// Event-loop threads for the socket. Default: the number of cores.
    public var threads: Int
    /// The quiet period to create the store with (milliseconds); on an existing store another value than its
    /// own is an error. Default: nil, the store's own (4 hours for a new store).
    public var quietPeriod: Int64?
    /// Keep the projections in the commits. Default: true; false only to measure the log alone.
    public var projections: Bool
    /// Who may write (`--allow-uid`, `--allow-gid`). Default: anyone who can open the socket.
    public var peerPolicy = PeerPolicy()
    /// The HTTP side (`--http`); nil: off. Default: off.
    public var http: HTTPConfiguration?
    /// Services the daemon runs beside its own (the fleet's forwarder), made once the store is open and given the
    /// metrics factory of `/metrics` when the HTTP side is on. They stop first on shutdown. Default: none.
    public var companions: @Sendable (_ metrics: (any MetricsFactory)?) throws -> [any Service] = { _ in [] }

    /// Creates a configuration with the documented defaults.
    public init(
        dataDirectory: String,
        socketPath: String? = nil,
        socketMode: UInt16 = 0o660,
        durability: Durability = .full,
        queueCapacity: Int = 8_192,
        pendingRepliesPerConnection: Int = 256,
        threads: Int = System.coreCount,
        quietPeriod: Int64? = nil,
        projections: Bool = true,
        http: HTTPConfiguration? = nil
    ) {
        self.dataDirectory = dataDirectory
        self.socketPath = socketPath ?? ServerConfiguration.defaultSocketPath(dataDirectory: dataDirectory)
        self.socketMode = socketMode
        self.durability = durability
        self.queueCapacity = queueCapacity
        self.pendingRepliesPerConnection = pendingRepliesPerConnection
        self.threads = threads
        self.quietPeriod = quietPeriod
        self.projections = projections
        self.http = http
    }

    /// `DATA_DIR/ingest.sock`.
    public static func defaultSocketPath(dataDirectory: String) -> String {
        dataDirectory.hasSuffix("/") ? dataDirectory + "ingest.sock" : dataDirectory + "/ingest.sock"
    }

    /// `DATA_DIR/http.address`: the HTTP side's bound `host:port` while it listens.
    public var httpAddressPath: String {
        dataDirectory.hasSuffix("/") ? dataDirectory + "http.address" : dataDirectory + "/http.address"
    }

    /// `DATA_DIR/events.db`.
    public var databasePath: String {
        dataDirectory.hasSuffix("/") ? dataDirectory + "events.db" : dataDirectory + "/events.db"
    }
}
