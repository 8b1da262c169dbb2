import Foundation
import GRDB
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `scripts/peer-asyncio-daemon.py` run as a process of its own on a fresh directory: the daemon a user would
/// write instead. It prints `listening PATH` once it accepts connections and `rows N` after each commit.
final class PeerDaemon: @unchecked Sendable {
    let directory: String
    let socketPath: String
    let databasePath: String
    private let process = Process()
    private let committed = Atomic<Int>(0)
    private let listening = Atomic<Bool>(false)
    private let progress = DispatchSemaphore(value: 0)

    init(script: String) throws {
        directory = try Bench.temporaryDirectory("peer")
        socketPath = directory + "/peer.sock"
        databasePath = directory + "/peer.db"
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--socket", socketPath, "--db", databasePath]
        process.standardOutput = output
        try process.runWithSignalsUnblocked()
        let handle = output.fileHandleForReading
        Thread { [self] in
            var pending: [UInt8] = []
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                pending.append(contentsOf: data)
                while let end = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<end], as: UTF8.self)
                    pending.removeSubrange(...end)
                    if line.hasPrefix("rows "), let rows = Int(line.dropFirst(5)) {
                        committed.store(rows, ordering: .releasing)
                    } else if line.hasPrefix("listening ") {
                        listening.store(true, ordering: .releasing)
                    }
                    progress.signal()
                }
            }
            progress.signal()
        }.start()
        try wait(timeout: .seconds(30), what: "\(script) did not start listening") {
            listening.load(ordering: .acquiring)
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Waits until the peer has committed `rows` rows (at most `timeout`).
    func waitForRows(_ rows: Int, timeout: Duration) throws {
        try wait(timeout: timeout, what: "the peer committed \(committed.load(ordering: .acquiring)) of \(rows) rows") {
            committed.load(ordering: .acquiring) >= rows
        }
    }

    /// Stops the peer (SIGTERM) and returns the rows its database holds.
    func stop() throws -> Int {
        process.terminate()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError("the peer exited with status \(process.terminationStatus)")
        }
        let database = try DatabaseQueue(path: databasePath)
        return try database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events") } ?? 0
    }

    private func wait(timeout: Duration, what: String, until done: () -> Bool) throws {
        let deadline = ContinuousClock.now + timeout
        while !done() {
            guard process.isRunning, ContinuousClock.now < deadline else { throw BenchError(what) }
            _ = progress.wait(timeout: .now() + .milliseconds(100))
        }
    }

    /// `scripts/peer-asyncio-daemon.py` from the current directory, or from the checkout this executable was built
    /// in (`.build/<triple>/release/selfheal-bench`).
    static func defaultScript() -> String {
        let relative = "scripts/peer-asyncio-daemon.py"
        if FileManager.default.fileExists(atPath: relative) { return relative }
        var checkout = URL(fileURLWithPath: MemoryBenchmark.siblingExecutable("selfheal-bench"))
        for _ in 0..<4 { checkout.deleteLastPathComponent() }
        return checkout.appendingPathComponent(relative).path
    }
}
