import Foundation
import Logging
import SelfHealEvents
import SelfHealServer
import SelfHealStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// End-to-end ingest over the real UNIX socket against the real daemon (decoding, group commit, fsync), with
/// syncs; and in the same run the ceiling: the same rows appended straight to the same schema in batches of
/// 1,000, no socket and no JSON.
enum IngestBenchmark {
    static func run(_ arguments: [String]) async throws {
        let total = Int(Bench.option(arguments, "events", default: "500000")) ?? 500_000
        let runs = Int(Bench.option(arguments, "runs", default: "3")) ?? 3
        let syncEvery = Int(Bench.option(arguments, "sync-every", default: "1000")) ?? 1_000
        let clientCounts = Bench.option(arguments, "clients", default: "1,4").split(separator: ",").compactMap {
            Int($0)
        }
        let durabilities = Bench.option(arguments, "durability", default: "full,normal").split(separator: ",")
            .compactMap { Durability(rawValue: String($0)) }
        let lines = makeLines(total)
        let averageBytes = lines.reduce(0) { $0 + $1.count } / lines.count
        say(
            "ingest: \(Bench.grouped(Double(total))) events of \(averageBytes) bytes on average, sync every "
                + "\(syncEvery), median of \(runs) runs"
        )
        say("durability  path                              events/s    of ceiling  of log only")
        for durability in durabilities {
            // Each run measures without and with projections back to back, so that the machine's drift weighs
            // on both alike.
            var ceilings: [Double] = []
            var projected: [Double] = []
            for _ in 0..<runs {
                ceilings.append(try await ceilingRate(lines, durability))
                projected.append(try await ceilingRate(lines, durability, projections: true))
            }
            let ceiling = Bench.median(ceilings)
            say(row(durability, "ceiling (store, batches)", ceiling, nil))
            let storeProjected = Bench.median(projected)
            say(row(durability, "store, batches, projections", storeProjected, storeProjected / ceiling, ceiling))
            for clients in clientCounts {
                var logOnly: [Double] = []
                var withProjections: [Double] = []
                for _ in 0..<runs {
                    for projections in [false, true] {
                        let rate = try await socketRate(
                            lines,
                            durability: durability,
                            clients: clients,
                            syncEvery: syncEvery,
                            projections: projections
                        )
                        if projections { withProjections.append(rate) } else { logOnly.append(rate) }
                    }
                }
                let path = "socket, \(clients) client\(clients == 1 ? "" : "s")"
                let logRate = Bench.median(logOnly)
                say(row(durability, path + ", log only", logRate, logRate / ceiling))
                let projectedRate = Bench.median(withProjections)
                say(row(durability, path + ", projections", projectedRate, projectedRate / ceiling, logRate))
            }
        }
    }

    /// A line of the table; `logOnly` is the rate of the same path without projections.
    static func row(
        _ durability: Durability,
        _ path: String,
        _ rate: Double,
        _ ratio: Double?,
        _ logOnly: Double? = nil
    ) -> String {
        let ratioText: String = ratio.map { String(format: "%.0f%%", $0 * 100) } ?? ""
        let logOnlyText: String = logOnly.map { String(format: "%.0f%%", rate / $0 * 100) } ?? ""
        let first: String = durability.rawValue.padded(12)
        let second: String = path.padded(34)
        let third: String = Bench.grouped(rate).padded(12)
        return first + second + third + (logOnly == nil ? ratioText : ratioText.padded(12) + logOnlyText)
    }

    /// ~300-byte events like the ones the users' services send.
    static func makeLines(_ count: Int) -> [[UInt8]] {
        let kinds = ["pool.warning", "retry.attempt", "breaker.opened", "timeout.prevented", "retry.succeeded"]
        let components = ["db-pool", "/api/manager/assistance", "openai", "spam-capture"]
        let base: Int64 = 1_764_063_620_200
        return (0..<count).map { index in
            let kind = kinds[index % kinds.count]
            let component = components[index % components.count]
            let ts = Timestamp.formatRFC3339(base + Int64(index) * 7)
            let line =
                #"{"service":"portal-web","kind":"\#(kind)","component":"\#(component)","ts":"\#(ts)","#
                + #""message":"Connection pool at 85% (17/20), queueing new requests","incident":"inc-\#(index / 50)","#
                + #""id":"evt-\#(index)","attrs":{"used":17,"max":20,"wait_ms":\#(index % 400),"endpoint":"/api/dash"}}"#
            return Array(line.utf8) + [0x0A]
        }
    }

    static func ceilingRate(
        _ lines: [[UInt8]],
        _ durability: Durability,
        projections: Bool = false
    ) async throws -> Double {
        let directory = try Bench.temporaryDirectory("ceiling")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try EventStore(
            StoreConfiguration(path: directory + "/events.db", durability: durability, projections: projections)
        )
        let now = Int64(Date().timeIntervalSince1970 * 1_000)
        let events: [IncomingEvent] = try lines.map { line in
            guard case .event(let event) = try WireDecoder.decode(Array(line.dropLast())) else { fatalError() }
            return IncomingEvent(event: event, receivedAt: now, peer: Peer(uid: 0, pid: 1))
        }
        let seconds = try await Bench.seconds {
            var start = 0
            while start < events.count {
                let end = min(start + 1_000, events.count)
                _ = try store.append(Array(events[start..<end]))
                start = end
            }
        }
        return Double(events.count) / seconds
    }

    static func socketRate(
        _ lines: [[UInt8]],
        durability: Durability,
        clients: Int,
        syncEvery: Int,
        projections: Bool
    ) async throws -> Double {
        let directory = try Bench.temporaryDirectory("socket")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let configuration = ServerConfiguration(
            dataDirectory: directory,
            durability: durability,
            projections: projections
        )
        let daemon = Task { try await Daemon.run(configuration, logger: logger) }
        defer { daemon.cancel() }
        try waitForSocket(configuration.socketPath)
        let share = lines.count / clients
        let seconds = try await Bench.seconds {
            // Clients block on their sockets: they run on threads of their own, never on the cooperative pool
            // that the daemon's tasks need.
            let failures = Mutex<[String]>([])
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let group = DispatchGroup()
                for client in 0..<clients {
                    let slice = Array(lines[(client * share)..<((client + 1) * share)])
                    group.enter()
                    Thread {
                        do {
                            try PipelinedClient(path: configuration.socketPath).send(slice, syncEvery: syncEvery)
                        } catch {
                            failures.withLock { $0.append("\(error)") }
                        }
                        group.leave()
                    }.start()
                }
                group.notify(queue: .global()) { continuation.resume() }
            }
            if let failure = failures.withLock({ $0.first }) { throw BenchError(failure) }
        }
        let stored = try EventStore(StoreConfiguration(path: configuration.databasePath)).lastSeq()
        guard stored == Int64(share * clients) else {
            throw BenchError("expected \(share * clients) stored events, found \(stored)")
        }
        daemon.cancel()
        _ = try? await daemon.value
        return Double(share * clients) / seconds
    }

    static func waitForSocket(_ path: String) throws {
        for _ in 0..<500 {
            if let client = try? PipelinedClient(path: path) {
                _ = client
                return
            }
            usleep(10_000)
        }
        throw BenchError("the daemon did not start")
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A client that writes lines and a sync every N lines without waiting, while a second thread reads the
/// replies; it returns when the reply to the final sync has come (every line is then committed).
final class PipelinedClient: @unchecked Sendable {
    let fd: Int32

    init(path: String) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result != 0 {
            close(fd)
            throw BenchError("connect failed")
        }
    }

    deinit { close(fd) }

    func send(_ lines: [[UInt8]], syncEvery: Int) throws {
        let sync = Array(#"{"op":"sync"}"#.utf8) + [0x0A]
        let syncs = (lines.count + syncEvery - 1) / syncEvery
        let done = DispatchSemaphore(value: 0)
        let reader = Thread { [fd] in
            var seen = 0
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while seen < syncs {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { break }
                for index in 0..<count where buffer[index] == 0x0A { seen += 1 }
            }
            done.signal()
        }
        reader.start()
        var chunk: [UInt8] = []
        chunk.reserveCapacity(1 << 17)
        for (index, line) in lines.enumerated() {
            chunk.append(contentsOf: line)
            if index % syncEvery == syncEvery - 1 || index == lines.count - 1 { chunk.append(contentsOf: sync) }
            if chunk.count >= 1 << 16 || index == lines.count - 1 {
                try write(chunk)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        done.wait()
    }

    private func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            if written <= 0 { throw BenchError("write failed") }
            offset += written
        }
    }
}
