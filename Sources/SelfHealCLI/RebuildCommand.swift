import ArgumentParser
import Foundation
import Logging
import SelfHealFleet
import SelfHealServer
import SelfHealStore

struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Replay the whole log into fresh projections (incidents and counters).",
        discussion: """
            Drops the incidents and counters and replays every event from seq 1, in one transaction: if it \
            fails, the projections stay as they were. Prints how many events per second it replayed. \
            Refuses while a daemon serves the data directory: stop the daemon first ('selfheal verify' runs \
            beside it).

            Examples:
              selfheal rebuild
              selfheal rebuild --data-dir /var/lib/selfheal
            """
    )

    @OptionGroup var location: LocationOptions

    @Option(help: "A new quiet period for the store (30m, 4h, 2d; 1m to 30d), applied by the replay.")
    var quietPeriod: String?

    func validate() throws {
        if let quietPeriod { _ = try parseQuietPeriod(quietPeriod) }
    }

    func run() async throws {
        try await reportingErrors {
            if DataDirectoryLock.isHeld(dataDirectory: location.dataDirectory) {
                throw CLIError(
                    "a daemon serves \(location.dataDirectory): stop it before 'selfheal rebuild' "
                        + "('selfheal verify' runs beside it)"
                )
            }
            guard FileManager.default.fileExists(atPath: location.databasePath) else {
                throw CLIError("no event store at \(location.databasePath): nothing to rebuild")
            }
            // Held while replaying, so that no daemon starts on the directory meanwhile.
            let lock: DataDirectoryLock
            do {
                lock = try DataDirectoryLock(dataDirectory: location.dataDirectory)
            } catch {
                throw CLIError("a daemon started on \(location.dataDirectory): stop it before 'selfheal rebuild'")
            }
            let store = try EventStore(StoreConfiguration(path: location.databasePath))
            let result = try store.rebuild(quietPeriod: try quietPeriod.map(parseQuietPeriod))
            withExtendedLifetime(lock) {}
            let rate = Int64(result.eventsPerSecond.rounded())
            print(
                "replayed \(result.events) events in \(String(format: "%.2f", result.seconds)) s "
                    + "(\(rate) events/s) into fresh projections"
            )
        }
    }
}

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the log (gapless seq, every row decodes) and that the projections equal a fresh replay.",
        discussion: """
            Reads one snapshot of the store, so it runs safely beside a daemon; the replay goes to a temporary \
            database. Prints what differs and exits 1 if anything does ('selfheal rebuild' repairs the \
            projections).

            It also recomputes the hash chain over the log (one SHA-256 link per commit) and names the first \
            seq that is not what was committed, even when the rows were edited or deleted around the daemon. \
            --head prints only the chain's head, 'seq N sha256 HEX' (every daily report's footer carries it): \
            a later verify that recomputes the same head proves the history up to N unchanged.

            Examples:
              selfheal verify
              selfheal verify --data-dir /var/lib/selfheal
              selfheal verify --head
              selfheal verify --store postgresql://selfheal@db.internal:5432/fleet

            With --store (env SELFHEAL_STORE) it checks the fleet's central store instead: fleet_seq gapless \
            from 1 to the head, each host's seqs gapless up to its cursor, each host's links recomputed from \
            the rows, and the fleet's incidents and counters equal to a replay of the log up to the \
            projector's cursor.
            """
    )

    @OptionGroup var location: LocationOptions

    @OptionGroup var store: CentralStoreOption

    @Flag(help: "Print only the head of the hash chain (seq and SHA-256), without checking.")
    var head = false

    func run() async throws {
        try await reportingErrors {
            if self.store.text != nil {
                guard !head else { throw CLIError("--head reads a local store's chain: not with --store") }
                try await verifyFleet()
                return
            }
            let store = try location.openStore()
            if head {
                print(try store.chainHead()?.description ?? "seq 0 (the log is empty)")
                return
            }
            let report = try store.verify()
            try printReport(
                report,
                log: "log: \(report.events) events, seq 1 to \(report.events) without gaps, every row decodes",
                differs: "the log differs from seq",
                repair: "'selfheal rebuild' repairs the projections"
            )
        }
    }

    /// `verify --store`: the fleet's central store.
    private func verifyFleet() async throws {
        var logger = Logger(label: "selfheal.verify") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = .warning
        let fleet = try await FleetVerifier.verify(try self.store.url(), logger: logger)
        let report = fleet.report
        let behind =
            fleet.applied < fleet.head
            ? ", as applied up to fleet_seq \(fleet.applied) (the projector is \(fleet.head - fleet.applied) behind)"
            : ""
        try printReport(
            report,
            log: "log: \(report.events) events from \(fleet.hosts) hosts, fleet_seq 1 to \(fleet.head) without gaps, "
                + "every host's seqs without gaps, every row decodes",
            replay: behind,
            differs: "the fleet log differs from fleet_seq",
            repair: "the fleet's projections differ from a replay of its log"
        )
    }

    /// Prints a report as local verify does; exits 1 when it found anything.
    private func printReport(
        _ report: VerifyReport,
        log: String,
        replay: String = "",
        differs: String,
        repair: String
    ) throws {
        do {
            if report.logProblems.isEmpty {
                print(log)
            } else {
                print("log: \(report.events) events, with problems:")
                for problem in report.logProblems { print("  \(problem)") }
            }
            if report.projectionDifferences.isEmpty {
                print(
                    "projections: equal to a fresh replay\(replay) (\(report.incidents) incidents, "
                        + "\(report.counterRows) counter rows)"
                )
            } else {
                print("projections: differ from a fresh replay:")
                for difference in report.projectionDifferences { print("  \(difference)") }
            }
            printChain(report.chain)
            if report.unlisted > 0 { print("(\(report.unlisted) more problems not listed)") }
            if !report.isClean {
                printError(
                    report.chain.firstDifferingSeq.map { "verify found problems: \(differs) \($0)" }
                        ?? "verify found problems: \(repair)"
                )
                throw ExitCode.failure
            }
        }
    }
}

/// The hash chain's part of `verify`'s output.
private func printChain(_ chain: ChainReport) {
    if chain.problems.isEmpty {
        let head = chain.head.map { ", head \($0)" } ?? ""
        print("hash chain: \(chain.links) links, every one recomputes\(head)")
    } else {
        print("hash chain: the log is not what was committed, first from seq \(chain.firstDifferingSeq ?? 0):")
        for problem in chain.problems { print("  \(problem)") }
    }
}
