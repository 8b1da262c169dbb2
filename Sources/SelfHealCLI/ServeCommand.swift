import ArgumentParser
import Foundation
import Logging
import SelfHealServer
import SelfHealStore

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon in the foreground: take events on the UNIX socket and commit them to the log.",
        discussion: """
            One daemon serves one data directory; a second one on the same directory exits with an error.
            SIGTERM or SIGINT stop it cleanly: it stops taking connections, commits every complete line it has
            read, answers pending syncs and exits 0.

            Examples:
              selfheal serve
              selfheal serve --data-dir /var/lib/selfheal --socket /run/selfheal.sock --socket-mode 0666
              selfheal serve --durability normal
            """
    )

    @OptionGroup var location: LocationOptions

    @Option(help: "The socket file's mode, in octal (default 0660).")
    var socketMode: String = "0660"

    @Option(help: "full: one fsync per commit, survives a machine crash (default); normal: survives a daemon crash.")
    var durability: Durability = .full

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info).")
    var logLevel: String = "info"

    func validate() throws {
        guard let mode = UInt16(socketMode, radix: 8), mode <= 0o777 else {
            throw ValidationError("--socket-mode must be an octal mode such as 0660, not \"\(socketMode)\"")
        }
        _ = mode
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let level = Logger.Level(rawValue: logLevel) ?? .info
            var logger = Logger(label: "selfheal") { label in StreamLogHandler.standardError(label: label) }
            logger.logLevel = level
            let configuration = ServerConfiguration(
                dataDirectory: location.dataDirectory,
                socketPath: location.socketPath,
                socketMode: UInt16(socketMode, radix: 8) ?? 0o660,
                durability: durability
            )
            try await Daemon.run(configuration, projections: Projections.all, logger: logger)
        }
    }
}

extension Durability: ExpressibleByArgument {}

/// The projections every writer of the log keeps up to date.
enum Projections {
    static var all: [any Projection] { [IncidentProjection()] }
}
