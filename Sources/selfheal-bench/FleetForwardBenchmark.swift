import Foundation
import Logging
import PostgresNIO
import SelfHealEvents
import SelfHealFleet
import SelfHealStore
import Synchronization

/// `selfheal-bench fleet forward --postgres URL`: the fleet's forwarder (the real `Forwarder`, COPY into a real
/// PostgreSQL server, one transaction per batch) from local stores to the central store. Each run gets a fresh
/// database on the server of `--postgres` (env SELFHEAL_BENCH_POSTGRES_URL; `scripts/test-postgres.sh` starts one).
///
/// - rate: each host's store filled beforehand, then the time until the central store holds every event, from 1
///   host and from 4 hosts together;
/// - lag: 4 hosts appending together at a steady `--rate` (default 10,000 events/s in all), each event's lag being
///   the time from its receive time to the moment its host's cursor in the central store covers it (the central
///   store is polled every 5 ms).
enum FleetForwardBenchmark {
    static func run(_ arguments: [String]) async throws {
        guard arguments.first == "forward" else { throw StoreError("usage: selfheal-bench fleet forward [options]") }
        let base = Bench.option(
            arguments,
            "postgres",
            default: ProcessInfo.processInfo.environment["SELFHEAL_BENCH_POSTGRES_URL"] ?? ""
        )
        guard !base.isEmpty else {
            throw StoreError(
                "give --postgres postgresql://USER@HOST:PORT/DB (scripts/test-postgres.sh starts a server)"
            )
        }
        let url = try FleetStoreURL(base)
        let total = Int(Bench.option(arguments, "events", default: "200000")) ?? 200_000
        let runs = Int(Bench.option(arguments, "runs", default: "3")) ?? 3
        let rate = Double(Bench.option(arguments, "rate", default: "10000")) ?? 10_000
        let seconds = Double(Bench.option(arguments, "seconds", default: "20")) ?? 20
        var logger = Logger(label: "selfheal-bench")
        logger.logLevel = .error
        let events = try IngestBenchmark.makeLines(total).map { line in
            guard case .event(let event) = try WireDecoder.decode(Array(line.dropLast())) else {
                throw StoreError("a benchmark line does not decode")
            }
            return event
        }
        say("fleet forward: \(url), batches of up to 10,000, median of \(runs) runs")
        let part = Bench.option(arguments, "part", default: "all")
        for hosts in [1, 4] where part != "lag" {
            var rates: [Double] = []
            for _ in 0..<runs {
                rates.append(try await forwardingRate(url, hosts: hosts, events: events, logger: logger))
            }
            say(
                "rate, \(hosts) host\(hosts == 1 ? "" : "s"), \(Bench.grouped(Double(total))) events in all: "
                    + "\(Bench.grouped(Bench.median(rates))) events/s (runs: "
                    + rates.map { Bench.grouped($0) }.joined(separator: ", ") + ")"
            )
        }
        guard part != "rate" else { return }
        let lags = try await steadyLag(url, hosts: 4, rate: rate, seconds: seconds, events: events, logger: logger)
        say(
            "lag, 4 hosts at \(Bench.grouped(rate)) events/s in all for \(Int(seconds)) s (\(Bench.grouped(Double(lags.count))) events): "
                + "p50 \(percentile(lags, 0.50)) ms, p99 \(percentile(lags, 0.99)) ms, max \(percentile(lags, 1)) ms"
        )
    }

    private static func percentile(_ values: [Int64], _ fraction: Double) -> Int64 {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return -1 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction))]
    }

    /// A fresh database on the server; dropped by `drop`.
    private static func freshDatabase(_ url: FleetStoreURL, logger: Logger) async throws -> FleetStoreURL {
        let admin = try await FleetDatabase.connect(url, logger: logger)
        let name = "selfheal_bench_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        _ = try await admin.simpleQuery("CREATE DATABASE \(name)").get()
        try await admin.close()
        var fresh = url
        fresh.database = name
        return fresh
    }

    private static func drop(_ fresh: FleetStoreURL, base: FleetStoreURL, logger: Logger) async {
        guard let admin = try? await FleetDatabase.connect(base, logger: logger) else { return }
        _ = try? await admin.simpleQuery("DROP DATABASE IF EXISTS \(fresh.database) WITH (FORCE)").get()
        try? await admin.close()
    }

    /// A host's local store in a temporary directory.
    private static func makeStore(_ directory: String, host: Int) throws -> (path: String, store: EventStore) {
        let path = "\(directory)/host-\(host).db"
        return (path, try EventStore(StoreConfiguration(path: path, durability: .normal, projections: false)))
    }

    private static func forwarder(_ url: FleetStoreURL, host: Int, path: String, logger: Logger) throws -> Forwarder {
        Forwarder(
            configuration: try ForwarderConfiguration(store: url, hostID: "host-\(host)", databasePath: path),
            logger: logger
        )
    }

    /// The hosts' cursors in the central store.
    private static func cursors(_ connection: PostgresConnection, logger: Logger) async throws -> [String: Int64] {
        var cursors: [String: Int64] = [:]
        let rows = try await connection.query("SELECT host_id, forwarded_seq FROM fleet_hosts", logger: logger)
        for try await (host, seq) in rows.decode((String, Int64).self) { cursors[host] = seq }
        return cursors
    }

    private static func forwardingRate(
        _ base: FleetStoreURL,
        hosts: Int,
        events: [Event],
        logger: Logger
    ) async throws -> Double {
        let url = try await freshDatabase(base, logger: logger)
        let directory = try Bench.temporaryDirectory("forward")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let now = Int64(Date().timeIntervalSince1970 * 1_000)
        let share = events.count / hosts
        var paths: [String] = []
        for host in 0..<hosts {
            let (path, store) = try makeStore(directory, host: host)
            var start = host * share
            while start < (host + 1) * share {
                let end = min(start + 10_000, (host + 1) * share)
                _ = try store.append(events[start..<end].map { IncomingEvent(event: $0, receivedAt: now, peer: nil) })
                start = end
            }
            paths.append(path)
        }
        // The schema first, so that the timing is forwarding alone.
        let monitor = try await FleetDatabase.connect(url, logger: logger)
        try await FleetDatabase.migrate(monitor, logger: logger)
        let forwarders = try (0..<hosts).map { try forwarder(url, host: $0, path: paths[$0], logger: logger) }
        let elapsed = try await Bench.seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for forwarder in forwarders { group.addTask { try await forwarder.run() } }
                while try await cursors(monitor, logger: logger).values.reduce(0, +) < Int64(share * hosts) {
                    try await Task.sleep(for: .milliseconds(2))
                }
                group.cancelAll()
            }
        }
        try await monitor.close()
        await drop(url, base: base, logger: logger)
        return Double(share * hosts) / elapsed
    }

    private static func steadyLag(
        _ base: FleetStoreURL,
        hosts: Int,
        rate: Double,
        seconds: Double,
        events: [Event],
        logger: Logger
    ) async throws -> [Int64] {
        let url = try await freshDatabase(base, logger: logger)
        let directory = try Bench.temporaryDirectory("forward-lag")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let monitor = try await FleetDatabase.connect(url, logger: logger)
        try await FleetDatabase.migrate(monitor, logger: logger)
        let stores = try (0..<hosts).map { try makeStore(directory, host: $0) }
        let forwarders = try (0..<hosts).map { try forwarder(url, host: $0, path: stores[$0].path, logger: logger) }
        let shared = LagShared(hosts: hosts)
        let tick = Duration.milliseconds(10)
        let perTick = max(1, Int(rate / Double(hosts) / 100))
        let lags = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for forwarder in forwarders {
                group.addTask {
                    try await forwarder.run()
                    return []
                }
            }
            for host in 0..<hosts {
                let store = stores[host].store
                group.addTask {
                    let clock = ContinuousClock()
                    var next = clock.now
                    var index = host
                    let end = clock.now + .milliseconds(Int64(seconds * 1_000))
                    while clock.now < end {
                        let now = Int64(Date().timeIntervalSince1970 * 1_000)
                        let batch = (0..<perTick).map { offset in
                            // No ids: the workload repeats, and a repeated id is a duplicate the store drops.
                            var event = events[(index + offset * hosts) % events.count]
                            event.id = nil
                            return IncomingEvent(event: event, receivedAt: now, peer: nil)
                        }
                        index += perTick * hosts
                        let stored = try store.append(batch).seqs.count { $0 != nil }
                        shared.received.withLock { $0[host] += Array(repeating: now, count: stored) }
                        next += tick
                        try await clock.sleep(until: next)
                    }
                    return []
                }
            }
            group.addTask {
                var seen = Array(repeating: Int64(0), count: hosts)
                var collected: [Int64] = []
                while true {
                    let finished = shared.done.load(ordering: .acquiring)
                    let now = Int64(Date().timeIntervalSince1970 * 1_000)
                    let current = try await cursors(monitor, logger: logger)
                    let times = shared.received.withLock { $0 }
                    for host in 0..<hosts {
                        let cursor = min(current["host-\(host)"] ?? 0, Int64(times[host].count))
                        while seen[host] < cursor {
                            collected.append(now - times[host][Int(seen[host])])
                            seen[host] += 1
                        }
                    }
                    if finished && zip(seen, times).allSatisfy({ $0 == Int64($1.count) }) { break }
                    try await Task.sleep(for: .milliseconds(5))
                }
                return collected
            }
            // The writers end first; then the monitor, once every event is forwarded; then the forwarders.
            for _ in 0..<hosts { _ = try await group.next() }
            shared.done.store(true, ordering: .releasing)
            let collected = try await group.next() ?? []
            group.cancelAll()
            return collected
        }
        try await monitor.close()
        await drop(url, base: base, logger: logger)
        return lags
    }
}

/// What the lag benchmark's writers and monitor share: each host's receive times by seq (seq n at index n - 1),
/// and whether the writers are done.
private final class LagShared: Sendable {
    let received: Mutex<[[Int64]]>
    let done = Atomic<Bool>(false)

    init(hosts: Int) { received = Mutex(Array(repeating: [], count: hosts)) }
}
