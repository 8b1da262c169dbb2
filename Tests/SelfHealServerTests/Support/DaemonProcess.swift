import Foundation
import SelfHealing
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A temporary data directory, removed when the value is released.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("selfheal-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The result of running the `selfheal` binary once.
struct CommandResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the real `selfheal` executable built beside the tests.
enum SelfHealBinary {
    /// The built `selfheal` executable: `SELFHEAL_BIN`, or next to the test bundle.
    static let url: URL = {
        if let path = ProcessInfo.processInfo.environment["SELFHEAL_BIN"] { return URL(fileURLWithPath: path) }
        var candidates: [URL] = []
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(argv0.deletingLastPathComponent().appendingPathComponent("selfheal"))
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("selfheal"))
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("selfheal"))
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
        return candidates[0]
    }()

    /// Runs `selfheal ARGS` to completion, with optional standard input.
    static func run(
        _ arguments: [String],
        stdin: Data? = nil,
        environment: [String: String] = [:]
    ) throws
        -> CommandResult
    {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        let collected = Mutex<(Data, Data)>((Data(), Data()))
        let group = DispatchGroup()
        for (index, pipe) in [out, err].enumerated() {
            group.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                collected.withLock { if index == 0 { $0.0 = data } else { $0.1 = data } }
                group.leave()
            }
        }
        group.wait()
        process.waitUntilExit()
        let (stdout, stderr) = collected.withLock { $0 }
        return CommandResult(
            status: process.terminationStatus,
            stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self)
        )
    }
}

/// A real `selfheal serve` process on a temporary data directory and socket.
final class DaemonProcess: @unchecked Sendable {
    let dataDirectory: String
    let socketPath: String
    private let process: Process
    private final class LogBuffer: Sendable {
        let text = Mutex("")
    }

    private let stderrLog = LogBuffer()
    private let drained = DispatchSemaphore(value: 0)

    /// Starts a daemon and returns once it is listening (it logs "selfheal daemon started" then).
    init(dataDirectory: String, arguments: [String] = []) throws {
        self.dataDirectory = dataDirectory
        socketPath = (dataDirectory as NSString).appendingPathComponent("ingest.sock")
        process = Process()
        process.executableURL = SelfHealBinary.url
        process.arguments = ["serve", "--data-dir", dataDirectory] + arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Read the log until the daemon says it listens (or exits), then keep draining it in the background.
        let handle = err.fileHandleForReading
        var log = ""
        while !log.contains("selfheal daemon started") {
            let data = handle.availableData
            if data.isEmpty { break }
            log += String(decoding: data, as: UTF8.self)
        }
        stderrLog.text.withLock { $0 = log }
        let stderrLog = stderrLog
        let drained = drained
        DispatchQueue.global().async {
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                stderrLog.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            drained.signal()
        }
        guard log.contains("selfheal daemon started") else {
            process.waitUntilExit()
            throw DaemonError(message: "daemon did not start: \(log)")
        }
    }

    struct DaemonError: Error { var message: String }

    /// The process id.
    var pid: Int32 { process.processIdentifier }

    /// Everything the daemon logged so far.
    var log: String { stderrLog.text.withLock { $0 } }

    /// Sends a signal and waits for the process to exit; returns its exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        drained.wait()
        return process.terminationStatus
    }

    /// How the process ended: exit or uncaught signal.
    var terminationReason: Process.TerminationReason { process.terminationReason }

    /// A blocking client on the daemon's socket.
    func client() throws -> IngestClient { try IngestClient(socketPath: socketPath, timeout: 60) }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
