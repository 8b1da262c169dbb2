import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A temporary directory, removed when released.
final class ScratchDirectory: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("selfheal-http-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A directory at a given path (created), removed when released.
    init(at path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The `selfheal` executable built beside the tests (or `SELFHEAL_BIN`).
enum Binary {
    static let path: String = {
        if let path = ProcessInfo.processInfo.environment["SELFHEAL_BIN"] { return path }
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [
            argv0.deletingLastPathComponent().appendingPathComponent("selfheal").path,
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("selfheal").path,
            Bundle.main.bundleURL.appendingPathComponent("selfheal").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }()

    /// Runs `selfheal ARGS` to completion: exit status, stdout, stderr.
    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = Mutex<(Data, Data)>((Data(), Data()))
        let group = DispatchGroup()
        for (index, pipe) in [out, err].enumerated() {
            group.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                output.withLock { if index == 0 { $0.0 = data } else { $0.1 = data } }
                group.leave()
            }
        }
        group.wait()
        process.waitUntilExit()
        let (stdout, stderr) = output.withLock { $0 }
        return (
            process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self)
        )
    }
}

/// A real `selfheal serve --http 127.0.0.1:0` process; the port is the one it wrote to `DATA_DIR/http.address`.
final class HTTPDaemon: @unchecked Sendable {
    let directory: ScratchDirectory
    let port: Int
    private let process: Process
    private final class LogText: Sendable {
        let text = Mutex("")
    }

    private let logText = LogText()
    private let drained = DispatchSemaphore(value: 0)

    /// The token of the token file when the daemon has one.
    static let token = "test-token-0123456789abcdef"

    /// Starts a daemon; `tokens` writes a token file holding ``token``. `http` is where it listens: a port the OS
    /// chooses unless a test restarts a daemon where a client still points.
    init(
        tokens: Bool = true,
        arguments: [String] = [],
        directory: ScratchDirectory? = nil,
        http: String = "127.0.0.1:0"
    ) throws {
        let directory = try directory ?? ScratchDirectory()
        self.directory = directory
        var arguments = ["serve", "--data-dir", directory.path, "--http", http, "--log-level", "debug"] + arguments
        if tokens {
            try "# tokens of the tests\n\n\(Self.token)\nsecond-token\n".write(
                toFile: directory.file("tokens"),
                atomically: true,
                encoding: .utf8
            )
            arguments += ["--http-token-file", directory.file("tokens")]
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let handle = err.fileHandleForReading
        var log = ""
        while !log.contains("selfheal http listening") {
            let data = handle.availableData
            if data.isEmpty { break }
            log += String(decoding: data, as: UTF8.self)
        }
        logText.text.withLock { $0 = log }
        let logText = logText
        let drained = drained
        DispatchQueue.global().async {
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                logText.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            drained.signal()
        }
        let address = (try? String(contentsOfFile: directory.file("http.address"), encoding: .utf8)) ?? ""
        guard log.contains("selfheal http listening"), let colon = address.lastIndex(of: ":"),
            let port = Int(address[address.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            process.waitUntilExit()
            throw HTTPTestError("the daemon did not start: \(log)")
        }
        self.port = port
    }

    var dataDirectory: String { directory.path }
    var socketPath: String { directory.file("ingest.sock") }
    var log: String { logText.text.withLock { $0 } }

    /// `Authorization: Bearer TOKEN`.
    static var authorized: [String: String] { ["Authorization": "Bearer \(token)"] }

    /// Sends SIGTERM (or another signal) and waits for the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        drained.wait()
        return process.terminationStatus
    }

    func get(_ path: String, headers: [String: String] = HTTPDaemon.authorized) throws -> HTTPReply {
        try request("GET", path, port: port, headers: headers)
    }

    func post(_ body: String, headers: [String: String] = HTTPDaemon.authorized) throws -> HTTPReply {
        try request("POST", "/api/v1/events", port: port, headers: headers, body: Array(body.utf8))
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// NDJSON of `count` events of one service, ids `prefix-0`... so that a body can be sent again safely.
func eventLines(
    _ count: Int,
    service: String = "checkout",
    kind: String = "retry.attempt",
    prefix: String = "e"
)
    -> String
{
    (0..<count).map { "{\"service\":\"\(service)\",\"kind\":\"\(kind)\",\"id\":\"\(prefix)-\($0)\"}\n" }.joined()
}
