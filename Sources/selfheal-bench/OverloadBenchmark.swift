import Foundation
import SelfHealEvents
import SelfHealStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Overload: many clients writing flat out through the socket to a real `selfheal serve` process for a while.
/// Each client sends batches of events with ids and a sync after each, and counts the events of every ok:true
/// reply as acknowledged. Afterwards: every acknowledged event is stored (once: ids are unique per service),
/// how the acknowledgements spread over the clients (fairness), the longest a client waited for a reply, and
/// the daemon's peak resident memory (VmHWM).
enum OverloadBenchmark {
    /// One client's counts, written by its thread and read at the end.
    final class Tally: Sendable {
        let acknowledged = Atomic<Int>(0)
        let failedSyncs = Atomic<Int>(0)
        let longestWaitMicros = Atomic<Int>(0)
        let error = Mutex<String?>(nil)
    }

    static func run(_ arguments: [String]) async throws {
        let clients = Int(Bench.option(arguments, "clients", default: "64")) ?? 64
        let seconds = Double(Bench.option(arguments, "seconds", default: "60")) ?? 60
        let batch = Int(Bench.option(arguments, "batch", default: "100")) ?? 100
        let binary = Bench.option(arguments, "selfheal", default: ".build/release/selfheal")
        let directory = try Bench.temporaryDirectory("overload")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try DaemonProcess(binary: binary, dataDirectory: directory)
        say(
            "overload: \(clients) clients, batches of \(batch) events each with a sync, \(Int(seconds)) s, daemon pid \(daemon.pid)"
        )
        let stop = StopFlag()
        let tallies = (0..<clients).map { _ in Tally() }
        let done = DispatchGroup()
        let socket = daemon.socketPath
        for client in 0..<clients {
            done.enter()
            Thread {
                defer { done.leave() }
                do {
                    try write(client: client, batch: batch, socket: socket, tally: tallies[client], stop: stop)
                } catch {
                    tallies[client].error.withLock { $0 = "\(error)" }
                }
            }.start()
        }
        var peak = 0
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            usleep(500_000)
            peak = max(peak, daemon.residentPeakKiB())
        }
        stop.set()
        done.wait()
        peak = max(peak, daemon.residentPeakKiB())
        let elapsed = Date().timeIntervalSince(start)
        try daemon.stop()

        let counts = tallies.map { $0.acknowledged.load(ordering: .relaxed) }
        let total = counts.reduce(0, +)
        let store = try EventStore(StoreConfiguration(path: directory + "/events.db", readOnly: true))
        var stored: [String: Int] = [:]
        try store.forEachEvent(EventFilter(since: Timestamp.minimum, until: Timestamp.maximum)) {
            stored[$0.event.service, default: 0] += 1
        }
        var lost = 0
        for (client, count) in counts.enumerated() where stored["overload-\(client)", default: 0] < count {
            lost += count - stored["overload-\(client)", default: 0]
        }
        let sorted = counts.sorted()
        let mean = Double(total) / Double(clients)
        let squares = counts.reduce(0.0) { $0 + Double($1) * Double($1) }
        let jain = squares > 0 ? Double(total) * Double(total) / (Double(clients) * squares) : 0
        let waits = tallies.map { $0.longestWaitMicros.load(ordering: .relaxed) }
        let errors = tallies.compactMap { $0.error.withLock { $0 } }
        say(
            "acknowledged: \(Bench.grouped(Double(total))) events in \(String(format: "%.1f", elapsed)) s (\(Bench.grouped(Double(total) / elapsed)) events/s)"
        )
        say("stored: \(Bench.grouped(Double(stored.values.reduce(0, +)))); acknowledged but not stored: \(lost)")
        say(
            "per client: min \(Bench.grouped(Double(sorted.first ?? 0))), median \(Bench.grouped(Double(sorted[sorted.count / 2]))), "
                + "max \(Bench.grouped(Double(sorted.last ?? 0))), mean \(Bench.grouped(mean)); "
                + "min/max \(String(format: "%.2f", Double(sorted.first ?? 0) / Double(max(1, sorted.last ?? 1)))), "
                + "Jain's fairness index \(String(format: "%.3f", jain))"
        )
        say(
            "longest wait for a sync reply: \(String(format: "%.2f", Double(waits.max() ?? 0) / 1e6)) s (median client \(String(format: "%.2f", Double(waits.sorted()[waits.count / 2]) / 1e6)) s)"
        )
        say(
            "failed syncs: \(tallies.reduce(0) { $0 + $1.failedSyncs.load(ordering: .relaxed) }); client errors: \(errors.count)\(errors.first.map { " (\($0))" } ?? "")"
        )
        say("daemon peak resident memory (VmHWM): \(peak / 1024) MiB")
        if lost > 0 || !errors.isEmpty || sorted.first == 0 {
            throw BenchError("overload: lost events, a client error or a starved client")
        }
    }

    final class StopFlag: Sendable {
        private let flag = Atomic<Bool>(false)
        func set() { flag.store(true, ordering: .relaxed) }
        var isSet: Bool { flag.load(ordering: .relaxed) }
    }

    /// One client: a batch with ids, a sync, wait for the reply; until told to stop.
    static func write(client: Int, batch: Int, socket: String, tally: Tally, stop: StopFlag) throws {
        let connection = try PipelinedClient(path: socket)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(batch * 200)
        var reply = [UInt8](repeating: 0, count: 4_096)
        var next = 0
        let prefix = Array(
            #"{"service":"overload-\#(client)","kind":"retry.attempt","component":"c","attrs":{"attempt":1},"id":"e"#
                .utf8
        )
        let sync = Array("\"}\n{\"op\":\"sync\"}\n".utf8)
        while !stop.isSet {
            buffer.removeAll(keepingCapacity: true)
            for index in next..<(next + batch) {
                buffer.append(contentsOf: prefix)
                buffer.append(contentsOf: String(index).utf8)
                buffer.append(contentsOf: index == next + batch - 1 ? sync : Array("\"}\n".utf8))
            }
            let sent = DispatchTime.now().uptimeNanoseconds
            var offset = 0
            while offset < buffer.count {
                let written = buffer[offset...].withUnsafeBytes { send(connection.fd, $0.baseAddress, $0.count, 0) }
                guard written > 0 else { throw BenchError("client \(client): write failed") }
                offset += written
            }
            var line: [UInt8] = []
            while !line.contains(0x0A) {
                let count = reply.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { throw BenchError("client \(client): the daemon closed the connection") }
                line.append(contentsOf: reply[0..<count])
            }
            let waited = Int((DispatchTime.now().uptimeNanoseconds - sent) / 1_000)
            if waited > tally.longestWaitMicros.load(ordering: .relaxed) {
                tally.longestWaitMicros.store(waited, ordering: .relaxed)
            }
            if line.starts(with: Array(#"{"op":"sync","ok":true"#.utf8)) {
                next += batch
                tally.acknowledged.store(next, ordering: .relaxed)
            } else {
                tally.failedSyncs.add(1, ordering: .relaxed)
            }
        }
    }
}

/// A `selfheal serve` child process on a data directory.
final class DaemonProcess {
    let process = Process()
    let socketPath: String

    init(binary: String, dataDirectory: String) throws {
        socketPath = dataDirectory + "/ingest.sock"
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--data-dir", dataDirectory, "--log-level", "warning"]
        try process.run()
        try Clients.waitForSocket(socketPath)
    }

    var pid: Int32 { process.processIdentifier }

    /// VmHWM of the process, KiB.
    func residentPeakKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    func stop() throws {
        kill(pid, SIGTERM)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError("the daemon exited with \(process.terminationStatus)")
        }
    }
}
