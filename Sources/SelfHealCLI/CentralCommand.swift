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
            Migrates the central store's schema (started before its PostgreSQL answers, it logs one line and \
            waits for it, as serve --forward does), then applies the rules of SPEC section 5 to the events the \
            hosts forwarded (serve --forward), in fleet_seq order, into the fleet's incidents and counters, in \
            the same transactions as its cursor. Several may run: the one holding the projector's advisory lock \
            applies, the others wait and take over within seconds when it stops. Logs one line when it starts \
            applying, takes over, or loses and finds the store again.

            --http serves the HTTP API and the dashboard of SPEC section 9 over the fleet (reads only: events \
            reach the fleet through the hosts' daemons); SIGTERM or SIGINT then stop it after the batch it is \
            writing.

            Examples:
              selfheal central --store postgresql://selfheal@db.internal:5432/fleet
              SELFHEAL_STORE=postgresql://selfheal@localhost/fleet selfheal central --quiet-period 2h
              selfheal central --store postgresql://selfheal@db.internal/fleet --http 0.0.0.0:8470 \\
                --http-token-file /etc/selfheal/tokens
            """
    )

    @OptionGroup var store: CentralStoreOption

    @Option(help: "The fleet's quiet period (30m, 4h, 2d; 1m to 30d), set before the first event is applied.")
    var quietPeriod: String?

    @Option(help: "Events applied per transaction.")
    var batchSize: Int = CentralProjector.Options.defaultBatchSize

    @Option(
        help: """
            The most active incidents kept in memory between batches (a few hundred bytes each); the others are \
            looked up in PostgreSQL.
            """
    )
    var workingSet: Int = CentralProjector.Options.defaultWorkingSetLimit

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @OptionGroup var http: HTTPOptions

    @Option(help: "A file to write the HTTP API's bound address into while it listens (with --http).")
    var httpAddressFile: String?

    func validate() throws {
        if let quietPeriod { _ = try parseQuietPeriod(quietPeriod) }
        guard (1...1_000_000).contains(batchSize) else {
            throw ValidationError("--batch-size must be between 1 and 1000000, not \(batchSize)")
        }
        guard (1_000...100_000_000).contains(workingSet) else {
            throw ValidationError("--working-set must be between 1000 and 100000000, not \(workingSet)")
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
            options.workingSetLimit = workingSet
            let projector = CentralProjector(options, logger: logger)
            if let settings = try http.configuration() {
                try await CentralHTTP.run(
                    projector: projector,
                    url: url,
                    settings: settings,
                    addressFile: httpAddressFile,
                    logger: logger
                )
            } else {
                try await projector.run()
            }
        }
    }
}
