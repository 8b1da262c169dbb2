import ArgumentParser
import Foundation
import Logging
import SelfHealEvents
import SelfHealFleet
import SelfHealHTTP
import SelfHealServer
import SelfHealStore

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon in the foreground: take events on the UNIX socket and commit them to the log.",
        discussion: """
            One daemon serves one data directory; a second one on the same directory exits with an error. \
            SIGTERM or SIGINT stop it cleanly: it stops taking connections, commits every complete line it has \
            read, answers pending syncs and exits 0.

            --http serves the HTTP API (queries, /metrics, /healthz, the stream) on ADDR:PORT; port 0 lets the \
            system choose, and DATA_DIR/http.address holds the bound address while it listens. Ingest over HTTP \
            (POST /api/v1/events) and any address beyond loopback need --http-token-file: one token a line, # \
            comments; clients send Authorization: Bearer TOKEN (or Basic with the token as the password).

            --forward ships every committed event, in seq order, to a central PostgreSQL store (SPEC section \
            10; env SELFHEAL_FORWARD), as host --host-id (default: the host name); ingest never waits for it, \
            and while the store is unreachable it retries with backoff. 'selfheal status' shows its lag.

            Examples:
              selfheal serve
              selfheal serve --data-dir /var/lib/selfheal --socket /run/selfheal.sock --socket-mode 0666
              selfheal serve --durability normal --quiet-period 2h
              selfheal serve --allow-uid 1000,1001 --allow-gid 998
              selfheal serve --http 127.0.0.1:8470
              selfheal serve --http 0.0.0.0:8470 --http-token-file /etc/selfheal/tokens
              selfheal serve --forward postgresql://selfheal@db.internal:5432/fleet --host-id web-1
            """
    )

    @OptionGroup var location: LocationOptions

    @Option(help: "The socket file's mode, in octal.")
    var socketMode: String = "0660"

    @Option(help: "full: one fsync per commit, survives a machine crash; normal: survives a daemon crash.")
    var durability: Durability = .full

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "Serve the HTTP API on ADDR:PORT, e.g. 127.0.0.1:8470 (default off).")
    var http: String?

    @Option(help: "The tokens of the HTTP API, one a line; needed for HTTP ingest and non-loopback addresses.")
    var httpTokenFile: String?

    /// For tests only (hidden): how long an HTTP body waits for room in the writer's queue before its `503`.
    @Option(help: ArgumentHelp("Seconds an HTTP body waits for the writer's queue (tests only).", visibility: .hidden))
    var httpQueueWait: Double = 5

    @Option(
        help: """
            How long an incident may hear nothing before it ends as expired: 30m, 4h, 2d (1m to 30d). Set when \
            the store is created (default 4h); on an existing store another value is an error ('selfheal rebuild \
            --quiet-period' changes it).
            """
    )
    var quietPeriod: String?

    @Option(
        help: "Forward committed events to this central store: postgresql://USER@HOST:PORT/DB (env SELFHEAL_FORWARD)."
    )
    var forward: String?

    @Option(help: "This host's id in the central store: 1 to 255 printable bytes (default: the host name).")
    var hostID: String?

    /// The forwarder of `--forward`, made when the daemon starts; nil without it. Errors are one line.
    func forwarderConfiguration(dataDirectory: String) throws(StoreError) -> ForwarderConfiguration? {
        guard let text = forward ?? ProcessInfo.processInfo.environment["SELFHEAL_FORWARD"], !text.isEmpty else {
            if hostID != nil { throw StoreError("--host-id needs --forward postgresql://USER@HOST:PORT/DB") }
            return nil
        }
        return try ForwarderConfiguration(
            store: try FleetStoreURL(text),
            hostID: hostID ?? ForwarderConfiguration.defaultHostID,
            databasePath: (dataDirectory as NSString).appendingPathComponent("events.db"),
            stateFile: ForwarderState.path(dataDirectory: dataDirectory)
        )
    }

    @Option(help: "Only these user ids may write, e.g. 1000,1001 (SO_PEERCRED; default: whoever can open the socket).")
    var allowUid: String?

    @Option(help: "Only processes of these group ids may write (their effective gid), e.g. 998.")
    var allowGid: String?

    /// `--allow-uid` and `--allow-gid` as a policy.
    func peerPolicy() throws(ValidationError) -> PeerPolicy {
        var policy = PeerPolicy()
        for (text, option, keyPath) in [
            (allowUid, "--allow-uid", \PeerPolicy.uids), (allowGid, "--allow-gid", \PeerPolicy.gids),
        ] {
            guard let text else { continue }
            switch PeerPolicy.parseIDs(text, option: option) {
            case .success(let ids): policy[keyPath: keyPath] = ids
            case .failure(let error): throw ValidationError(error.message)
            }
        }
        return policy
    }

    func validate() throws {
        guard let mode = UInt16(socketMode, radix: 8), mode <= 0o777 else {
            throw ValidationError("--socket-mode must be an octal mode such as 0660, not \"\(socketMode)\"")
        }
        _ = mode
        if let quietPeriod { _ = try parseQuietPeriod(quietPeriod) }
        _ = try peerPolicy()
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard httpQueueWait > 0, httpQueueWait <= 60 else {
            throw ValidationError("--http-queue-wait must be between 0 and 60 seconds, not \(httpQueueWait)")
        }
        if let http {
            do { _ = try ListenAddress(parsing: http) } catch { throw ValidationError(error.message) }
        } else if httpTokenFile != nil {
            throw ValidationError("--http-token-file needs --http ADDR:PORT")
        }
    }

    /// The HTTP side's settings, the token file read; nil without `--http`.
    func httpConfiguration() throws -> HTTPConfiguration? {
        guard let http else { return nil }
        let tokens = try httpTokenFile.map { path throws(HTTPSetupError) in try AccessTokens(contentsOfFile: path) }
        let settings = HTTPConfiguration(
            address: try ListenAddress(parsing: http),
            tokens: tokens ?? AccessTokens(),
            queueWait: .milliseconds(Int64(httpQueueWait * 1_000))
        )
        try settings.validate()
        return settings
    }

    func run() async throws {
        try await reportingErrors {
            let level = Logger.Level(rawValue: logLevel) ?? .info
            var logger = Logger(label: "selfheal") { label in StreamLogHandler.standardError(label: label) }
            logger.logLevel = level
            var configuration = ServerConfiguration(
                dataDirectory: location.dataDirectory,
                socketPath: location.socketPath,
                socketMode: UInt16(socketMode, radix: 8) ?? 0o660,
                durability: durability,
                quietPeriod: try quietPeriod.map(parseQuietPeriod),
                http: try httpConfiguration()
            )
            configuration.peerPolicy = try peerPolicy()
            if let forwarding = try forwarderConfiguration(dataDirectory: location.dataDirectory) {
                let forwarderLogger = logger
                configuration.companions = { metrics in
                    [Forwarder(configuration: forwarding, logger: forwarderLogger, metricsFactory: metrics)]
                }
            }
            try await Daemon.run(configuration, logger: logger)
        }
    }
}

extension Durability: ExpressibleByArgument {}

/// A `--quiet-period` value in milliseconds: `4h`, `30m`, `2d`, `1h30m`, within SPEC section 5's bounds.
func parseQuietPeriod(_ text: String) throws(ValidationError) -> Int64 {
    guard let milliseconds = Timestamp.parseDuration(text) else {
        throw ValidationError("--quiet-period must be a duration such as 30m, 4h or 2d, not \"\(text)\"")
    }
    guard QuietPeriod.allowed.contains(milliseconds) else {
        throw ValidationError("--quiet-period must be between 1m and 30d, not \(text)")
    }
    return milliseconds
}
