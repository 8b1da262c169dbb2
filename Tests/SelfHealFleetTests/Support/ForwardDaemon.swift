import Foundation
import Logging
import PostgresNIO
import SelfHealEvents
import SelfHealFleet
import SelfHealStore

#if canImport(Glibc)
import Glibc
#endif

/// A temporary directory, removed when released.
final class ForwardDirectory: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("selfheal-fwd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A real `selfheal serve --forward` process; its log goes to `DATA_DIR/../NAME.log`.
final class ForwardDaemon: @unchecked Sendable {
    let dataDirectory: String
    let logPath: String
    private let arguments: [String]
    private var process: Process?

    init(root: String, name: String, arguments: [String]) throws {
        dataDirectory = (root as NSString).appendingPathComponent(name)
        logPath = (root as NSString).appendingPathComponent("\(name).log")
        self.arguments = arguments
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        try start()
    }

    /// Starts the daemon (again) and returns once it listens.
    func start() throws {
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let before = log.components(separatedBy: "selfheal daemon started").count
        let process = Process()
        process.executableURL = SelfhealBinary.url
        process.arguments = ["serve", "--data-dir", dataDirectory] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let handle = FileHandle(forWritingAtPath: logPath)
        handle?.seekToEndOfFile()
        process.standardError = handle
        try process.run()
        self.process = process
        try waitUntil("daemon \(dataDirectory) started", timeout: 60) {
            guard process.isRunning else { throw ForwardTestError("the daemon exited: \(log)") }
            return log.components(separatedBy: "selfheal daemon started").count > before
        }
    }

    /// Everything the daemon logged.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends a signal and waits for the exit; returns the status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        guard let process else { return -1 }
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Sends `lines` with `selfheal ingest`; returns how many the daemon acknowledged as accepted.
    func ingest(_ lines: [String]) throws -> Int {
        let file = (dataDirectory as NSString).appendingPathComponent("batch-\(UUID().uuidString).ndjson")
        defer { unlink(file) }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: file))
        let result = try SelfhealBinary.run(["ingest", "--data-dir", dataDirectory, file], in: dataDirectory)
        guard result.status == 0, let accepted = result.stdout.split(separator: " ").dropFirst().first,
            let count = Int(accepted.trimmingCharacters(in: .punctuationCharacters))
        else { throw ForwardTestError("ingest failed: \(result.stdout) \(result.stderr)") }
        return count
    }

    /// The local log's events, in seq order.
    func localEvents() throws -> [StoredEvent] {
        let store = try EventStore(
            StoreConfiguration(path: (dataDirectory as NSString).appendingPathComponent("events.db"), readOnly: true)
        )
        return try store.events(after: 0, limit: Int.max)
    }

    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct ForwardTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 20 ms until it holds; throws naming `what` after `timeout` seconds.
func waitUntil(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try !condition() {
        guard Date() < deadline else { throw ForwardTestError("timed out after \(timeout) s waiting for \(what)") }
        usleep(20_000)
    }
}

/// `count` events of a service, with the characters COPY's text format escapes in them.
func forwardLines(service: String, count: Int, from start: Int = 0) -> [String] {
    (start..<(start + count)).map { index in
        let message = index % 7 == 0 ? #","message":"tab\there\\back\nline""# : ""
        let id = index % 5 == 0 ? #","id":"e\#(index)""# : ""
        return
            #"{"service":"\#(service)","kind":"retry.attempt","component":"db","attrs":{"attempt":\#(index)}\#(message)\#(id)}"#
    }
}
