import ArgumentParser
import Foundation
import Logging
import SelfHealFleet
import SelfHealStore

/// `--store postgresql://...` (env `SELFHEAL_STORE`): the central store of `central` and `verify --store`.
struct CentralStoreOption: ParsableArguments {
    @Option(
        name: .customLong("store"),
        help: "The central store, postgresql://USER@HOST:PORT/DB (env SELFHEAL_STORE)."
    )
    var storeOption: String?

    /// The store's URL as given, or nil when neither the option nor the environment names one.
    var text: String? { StoreOptions.resolve(storeOption) }

    /// The store's URL, parsed; the error names what is wrong.
    func url() throws -> FleetStoreURL {
        guard let text else {
            throw CLIError("no central store: give --store postgresql://USER@HOST:PORT/DB or set SELFHEAL_STORE")
        }
        return try FleetStoreURL(text)
    }
}

struct CentralCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "central",
        abstract: "Apply the incident rules to the fleet's central log in PostgreSQL (SPEC section 10).",
        discussion: """
            Migrates the central store's schema, then applies the rules of SPEC section 5 to the events the \
            hosts forwarded (serve --forward), in fleet_seq order, into the fleet's incidents and counters, in \
            the same transactions as its cursor. Several may run: the one holding the projector's advisory lock \
            applies, the others wait and take over within seconds when it stops. Runs until killed; logs one \
            line when it starts applying, takes over, or loses and finds the store again.

            Examples:
              selfheal central --store postgresql://selfheal@db.internal:5432/fleet
              SELFHEAL_STORE=postgresql://selfheal@localhost/fleet selfheal central --quiet-period 2h
            """
    )

    @OptionGroup var store: CentralStoreOption

    @Option(help: "The fleet's quiet period (30m, 4h, 2d; 1m to 30d), set before the first event is applied.")
    var quietPeriod: String?

    @Option(help: "Events applied per transaction.")
    var batchSize: Int = 10_000

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        if let quietPeriod { _ = try parseQuietPeriod(quietPeriod) }
        guard (1...1_000_000).contains(batchSize) else {
            throw ValidationError("--batch-size must be between 1 and 1000000, not \(batchSize)")
        }
    }

    func run() async throws {
        try await reportingErrors {
            var logger = Logger(label: "selfheal.central") { label in StreamLogHandler.standardError(label: label) }
            logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            let url = try store.url()
            try await CentralProjector.prepare(url, quietPeriod: try quietPeriod.map(parseQuietPeriod), logger: logger)
            var options = CentralProjector.Options(url: url)
            options.batchSize = batchSize
            try await CentralProjector(options, logger: logger).run()
        }
    }
}
