import ArgumentParser
import Foundation
import SelfHealEvents
import SelfHealFleet
import SelfHealServer
import SelfHealStore

/// Where the data lives: `--data-dir` and `--socket`, with their environment variables.
struct LocationOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The data directory (env SELFHEAL_DATA_DIR; default .selfheal).")
    var dataDirectoryOption: String?

    @Option(name: .customLong("socket"), help: "The daemon's socket (env SELFHEAL_SOCKET; default DIR/ingest.sock).")
    var socketOption: String?

    /// The data directory.
    var dataDirectory: String {
        dataDirectoryOption ?? ProcessInfo.processInfo.environment["SELFHEAL_DATA_DIR"] ?? ".selfheal"
    }

    /// The socket path.
    var socketPath: String {
        socketOption ?? ProcessInfo.processInfo.environment["SELFHEAL_SOCKET"]
            ?? ServerConfiguration.defaultSocketPath(dataDirectory: dataDirectory)
    }

    /// `DIR/events.db`.
    var databasePath: String { (dataDirectory as NSString).appendingPathComponent("events.db") }

    /// Opens the store read-only for queries; a missing store is an error that says how to make one.
    ///
    /// A store whose projections are behind its log (written by an older selfheal, or by a writer without
    /// projections) is brought up to date first when no daemon serves the directory; while one does, its next
    /// commit will, and a warning says so.
    func openStore() throws(CLIError) -> EventStore {
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw CLIError("no event store at \(databasePath): start the daemon with 'selfheal serve' first")
        }
        let readOnly = StoreConfiguration(path: databasePath, readOnly: true)
        do {
            let current = try? EventStore(readOnly)
            if let current, let progress = try? current.projectionProgress(), progress.applied >= progress.logEnd {
                return current
            }
            if DataDirectoryLock.isHeld(dataDirectory: dataDirectory) {
                guard let current else {
                    throw CLIError(
                        "the store at \(databasePath) needs an update that its running daemon does not make: "
                            + "stop it and start this version's 'selfheal serve'"
                    )
                }
                let behind = try current.projectionProgress()
                printError(
                    "warning: the projections are \(behind.logEnd - behind.applied) events behind the log until "
                        + "the daemon's next commit"
                )
                return current
            }
            // Held while updating, so that no daemon starts on the directory meanwhile.
            let lock = try DataDirectoryLock(dataDirectory: dataDirectory)
            _ = try EventStore(StoreConfiguration(path: databasePath))
            withExtendedLifetime(lock) {}
            return try EventStore(readOnly)
        } catch let error as CLIError {
            throw error
        } catch let error as StoreError {
            throw CLIError(error.message)
        } catch {
            throw CLIError("\(error)")
        }
    }
}

/// `--store postgresql://...` of the read commands (env `SELFHEAL_STORE`): the fleet's central store instead of
/// the data directory (SPEC section 10).
struct StoreOptions: ParsableArguments {
    @Option(
        name: .customLong("store"),
        help:
            "Read the fleet's central store instead of the data directory: postgresql://USER@HOST:PORT/DB (env SELFHEAL_STORE)."
    )
    var storeOption: String?

    /// The central store's URL as given, when one is.
    var url: String? { Self.resolve(storeOption) }

    /// A `--store` as given, else `SELFHEAL_STORE` when set and not empty.
    static func resolve(_ option: String?) -> String? {
        if let option { return option }
        guard let text = ProcessInfo.processInfo.environment["SELFHEAL_STORE"], !text.isEmpty else { return nil }
        return text
    }

    /// Whether the reads go to the fleet.
    var isFleet: Bool { url != nil }

    /// The store the read commands read: the fleet's when `--store` (or SELFHEAL_STORE) names one, else the data
    /// directory's (``LocationOptions/openStore()``). The one place the command line opens a store to read.
    func open(_ location: LocationOptions) throws(CLIError) -> any StoreReader {
        guard let url else { return try location.openStore() }
        do {
            return try FleetReader(try FleetStoreURL(url))
        } catch {
            throw CLIError(error.message)
        }
    }
}

/// `--format table|json|ndjson`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, ndjson
}

/// `--since`, `--until` and `--tz` of the query commands.
struct RangeOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: "Start of the range, inclusive: RFC 3339, YYYY-MM-DD, now, or -30m/-2h/-7d."
    )
    var since: String = "-24h"

    @Option(parsing: .unconditional, help: "End of the range, exclusive.")
    var until: String = "now"

    @Option(
        parsing: .unconditional,
        help: "The read's clock for quiet incidents: an incident silent for the quiet period by then shows ended."
    )
    var asOf: String = "now"

    @Option(help: "Time zone for dates and the table's times, e.g. Europe/Paris (default the system zone).")
    var tz: String?

    /// The zone named by `--tz`, or the system's.
    func zone() throws(CLIError) -> TimeZone {
        try SelfHealCLI.zone(tz)
    }

    /// `[since, until)` and `--as-of` in epoch milliseconds.
    func range(now: Int64 = currentMillis()) throws(CLIError) -> (since: Int64, until: Int64, asOf: Int64) {
        let parser = TimeExpression(zone: try zone(), now: now)
        let since = try parser.parse(self.since, option: "--since")
        let until = try parser.parse(self.until, option: "--until")
        guard since <= until else { throw CLIError("--since is after --until") }
        return (since, until, try parser.parse(asOf, option: "--as-of"))
    }
}

/// Runs a command body, turning any error into one line on stderr and exit status 1.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CLIError {
        printError(error.message)
        throw ExitCode.failure
    } catch let error as StoreError {
        printError(error.message)
        throw ExitCode.failure
    } catch let error as ServerError {
        printError(error.message)
        throw ExitCode.failure
    } catch {
        printError("\(error)")
        throw ExitCode.failure
    }
}

/// Prints `selfheal: message` on stderr.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("selfheal: \(message)\n".utf8))
}

/// Writes text to stdout through one buffer (queries can print millions of lines).
struct OutputStream {
    private var buffer: [UInt8] = []

    mutating func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func line(_ text: String) {
        write(text)
        buffer.append(0x0A)
    }

    /// Writes records as one JSON array (`ndjson` false) or one object per line, streaming: `produce` calls the
    /// closure it is given once per record, with the record's JSON.
    mutating func jsonRecords(ndjson: Bool, _ produce: ((String) -> Void) throws -> Void) rethrows {
        if ndjson {
            try produce { line($0) }
            return
        }
        var first = true
        write("[")
        try produce { record in
            write(first ? "\n" : ",\n")
            first = false
            write(record)
        }
        line(first ? "]" : "\n]")
    }

    mutating func flush() {
        guard !buffer.isEmpty else { return }
        fflush(nil)  // what print() buffered goes first
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}
