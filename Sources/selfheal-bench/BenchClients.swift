import Foundation
import Logging
import SelfHealFleet
import SelfHealServer
import SelfHealStore
import SelfHealing
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Several clients sending at once, each on a thread and a connection of its own.
enum Clients {
    /// How many lines the clients sent, and the seconds until the last one was acknowledged.
    struct Outcome {
        var sent: Int
        var seconds: Double
        var rate: Double { Double(sent) / seconds }
    }

    /// Deals lines round-robin to `count` clients, so that every client sends times from the whole range.
    static func deal(_ lines: [[UInt8]], to count: Int) -> [[[UInt8]]] {
        var shares = [[[UInt8]]](repeating: [], count: count)
        for index in shares.indices { shares[index].reserveCapacity(lines.count / count + 1) }
        for (index, line) in lines.enumerated() { shares[index % count].append(line) }
        return shares
    }

    /// Sends each share over its own connection to `path`. With `acknowledged`, a sync follows every `syncEvery`
    /// lines and each share's last line, and the call returns when every sync has its reply (every line is then
    /// committed); without it, the clients write their lines and close (for peers that never answer). A
    /// deadline stops each client early, after the line it is at (and its sync); a window bounds each client's
    /// syncs awaiting their replies.
    static func send(
        _ shares: [[[UInt8]]],
        path: String,
        syncEvery: Int = 1_000,
        acknowledged: Bool = true,
        deadline: ContinuousClock.Instant? = nil,
        window: Int? = nil
    ) async throws -> Outcome {
        let sent = Mutex<Int>(0)
        let failures = Mutex<[String]>([])
        // Clients block on their sockets: they run on threads of their own, never on the cooperative pool that an
        // in-process daemon's tasks need.
        let seconds = try await Bench.seconds {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let group = DispatchGroup()
                for share in shares where !share.isEmpty {
                    group.enter()
                    Thread {
                        do {
                            let client = try PipelinedClient(path: path)
                            let count =
                                acknowledged
                                ? try client.send(share, syncEvery: syncEvery, deadline: deadline, window: window)
                                : try client.sendUnacknowledged(share)
                            sent.withLock { $0 += count }
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
        return Outcome(sent: sent.withLock { $0 }, seconds: seconds)
    }

    /// Runs the daemon in this process (`Daemon.run`, the code `selfheal serve` runs) on a fresh data directory,
    /// sends the shares to it, checks that the log holds every line sent, and stops it; `inspect` then reads the
    /// store.
    static func throughDaemon(
        _ shares: [[[UInt8]]],
        durability: Durability,
        projections: Bool,
        syncEvery: Int = 1_000,
        deadline: Duration? = nil,
        window: Int? = nil,
        inspect: ((EventStore) throws -> Void)? = nil
    ) async throws -> Outcome {
        let directory = try Bench.temporaryDirectory("socket")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        var configuration = ServerConfiguration(
            dataDirectory: directory,
            durability: durability,
            projections: projections
        )
        // SELFHEAL_BENCH_FORWARD=postgresql://...: the daemon also forwards, as `serve --forward` does (whether
        // forwarding slows the acks), each run as a host of its own.
        if let store = ProcessInfo.processInfo.environment["SELFHEAL_BENCH_FORWARD"], !store.isEmpty {
            let forwarding = try ForwarderConfiguration(
                store: try FleetStoreURL(store),
                hostID: "bench-\(UUID().uuidString)",
                databasePath: configuration.databasePath
            )
            let forwarderLogger = logger
            configuration.companions = { metrics in
                [Forwarder(configuration: forwarding, logger: forwarderLogger, metricsFactory: metrics)]
            }
        }
        let daemon = Task { [configuration] in try await Daemon.run(configuration, logger: logger) }
        defer { daemon.cancel() }
        try waitForSocket(configuration.socketPath)
        let outcome = try await send(
            shares,
            path: configuration.socketPath,
            syncEvery: syncEvery,
            deadline: deadline.map { ContinuousClock.now + $0 },
            window: window
        )
        let stored = try EventStore(StoreConfiguration(path: configuration.databasePath, readOnly: true)).lastSeq()
        guard stored == Int64(outcome.sent) else {
            throw BenchError("expected \(outcome.sent) stored events, found \(stored)")
        }
        daemon.cancel()
        _ = try? await daemon.value
        if let inspect {
            try inspect(try EventStore(StoreConfiguration(path: configuration.databasePath, readOnly: true)))
        }
        return outcome
    }

    /// Waits until a daemon accepts connections on `path` (at most 30 seconds).
    static func waitForSocket(_ path: String) throws {
        for _ in 0..<3_000 {
            if let client = try? PipelinedClient(path: path) {
                _ = client
                return
            }
            usleep(10_000)
        }
        throw BenchError("no daemon answered on \(path)")
    }
}

/// A client that writes lines and a sync every N lines without waiting, while a second thread reads the
/// replies; it returns when the reply to the final sync has come (every line is then committed).
final class PipelinedClient: @unchecked Sendable {
    let fd: Int32

    init(path: String) throws {
        fd = try IngestClient.connect(socketPath: path)
    }

    deinit { close(fd) }

    /// The number of syncs whose replies the reader waits for; unknown (`Int.max`) until the writer has chosen
    /// its last line.
    private final class ExpectedReplies: Sendable {
        let count = Atomic<Int>(Int.max)
    }

    /// Sends the lines with a sync every `syncEvery` lines and after the last one sent, and returns how many
    /// lines were sent once every sync has its reply. A deadline ends the lines early; a window bounds the syncs
    /// awaiting their replies (so that a slow daemon has little left to commit after the deadline).
    @discardableResult
    func send(
        _ lines: [[UInt8]],
        syncEvery: Int,
        deadline: ContinuousClock.Instant? = nil,
        window: Int? = nil
    ) throws -> Int {
        guard !lines.isEmpty else { return 0 }
        let sync = Array(#"{"op":"sync"}"#.utf8) + [0x0A]
        let expected = ExpectedReplies()
        let done = DispatchSemaphore(value: 0)
        // Made at 0 and raised, so that it may be freed with any count (libdispatch traps below the initial one).
        let credits = DispatchSemaphore(value: 0)
        for _ in 0..<(window ?? 0) { credits.signal() }
        let reader = Thread { [fd] in
            var seen = 0
            var buffer = [UInt8](repeating: 0, count: 65_536)
            // The last reply comes only after the writer has stored the count, so the loop sees it in time.
            while seen < expected.count.load(ordering: .acquiring) {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { break }
                for index in 0..<count where buffer[index] == 0x0A {
                    seen += 1
                    if window != nil { credits.signal() }
                }
            }
            done.signal()
        }
        reader.start()
        var chunk: [UInt8] = []
        chunk.reserveCapacity(1 << 17)
        var sent = 0
        var syncs = 0
        for line in lines {
            chunk.append(contentsOf: line)
            sent += 1
            let full = chunk.count >= 1 << 16
            let last = sent == lines.count || (full && deadline.map { ContinuousClock.now >= $0 } == true)
            if sent % syncEvery == 0 || last {
                if window != nil, credits.wait(timeout: .now()) == .timedOut {
                    // The replies that free a credit may wait for lines still in the chunk.
                    try write(chunk)
                    chunk.removeAll(keepingCapacity: true)
                    credits.wait()
                }
                chunk.append(contentsOf: sync)
                syncs += 1
            }
            if last { expected.count.store(syncs, ordering: .releasing) }
            if full || last {
                try write(chunk)
                chunk.removeAll(keepingCapacity: true)
            }
            if last { break }
        }
        done.wait()
        return sent
    }

    /// Writes every line, then closes its side of the connection; returns the number of lines.
    func sendUnacknowledged(_ lines: [[UInt8]]) throws -> Int {
        var chunk: [UInt8] = []
        chunk.reserveCapacity(1 << 17)
        for line in lines {
            chunk.append(contentsOf: line)
            if chunk.count >= 1 << 16 {
                try write(chunk)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        try write(chunk)
        shutdown(fd, Int32(SHUT_WR))
        return lines.count
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
