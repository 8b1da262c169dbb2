import Foundation
import Logging
import NIOCore
import PostgresNIO
import SelfHealEvents
import SelfHealFleet
import SelfHealStore

#if canImport(Glibc)
import Glibc
#endif

/// `selfheal-bench fleet central --store postgresql://USER@HOST:PORT/DB [--events N] [--runs R] [--batch-size B]`:
/// the central projector's rate. Creates a fresh database `selfheal_bench_central` on the server of the URL,
/// fills its fleet log once with the mixed workload (``FleetWorkload``) from 4 hosts, as the forwarder stores it
/// (batches of 1,000 from one host, head, cursors and links), then, per run, empties the fleet's projections and
/// has the real ``CentralProjector`` (the same code as `selfheal central`) apply the whole log.
enum FleetCentralBenchmark {
    /// The `fleet` benchmarks by name.
    static func run(_ arguments: [String]) async throws {
        guard arguments.first == "central" else { throw BenchError("usage: selfheal-bench fleet central [options]") }
        try await central(Array(arguments.dropFirst()))
    }

    static func central(_ arguments: [String]) async throws {
        let total = Int(Bench.option(arguments, "events", default: "500000")) ?? 500_000
        let runs = Int(Bench.option(arguments, "runs", default: "3")) ?? 3
        let batchSize = Int(Bench.option(arguments, "batch-size", default: "10000")) ?? 10_000
        let workingSet = Int(Bench.option(arguments, "working-set", default: "100000")) ?? 100_000
        let store = Bench.option(
            arguments,
            "store",
            default: ProcessInfo.processInfo.environment["SELFHEAL_STORE"] ?? ""
        )
        guard !store.isEmpty else { throw BenchError("--store postgresql://USER@HOST:PORT/DB names the server to use") }
        var logger = Logger(label: "bench") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let server = try FleetStoreURL(store)
        var url = server
        url.database = "selfheal_bench_central"
        let admin = try await FleetDatabase.connect(server, logger: logger)
        try await admin.query("DROP DATABASE IF EXISTS selfheal_bench_central", logger: logger)
        try await admin.query("CREATE DATABASE selfheal_bench_central", logger: logger)
        try await admin.close()

        let workload = FleetWorkload(events: total, hours: 24, keyShape: "middle")
        let connection = try await FleetDatabase.connect(url, logger: logger)
        try await FleetDatabase.migrate(connection, logger: logger)
        let fill = try await Bench.seconds { try await fillLog(workload, connection, logger) }
        say(
            "fleet central: \(Bench.grouped(Double(total))) events of the mixed workload (8 services x 8 components, "
                + "60% with an incident key) from 4 hosts, stored in \(String(format: "%.1f", fill)) s; "
                + "batches of \(Bench.grouped(Double(batchSize))), a working set of \(Bench.grouped(Double(workingSet))); "
                + "median of \(runs) runs"
        )
        var rates: [Double] = []
        var cpuPer100k: [Double] = []
        var serverCPUPer100k: [Double] = []
        let postmaster = try await postmasterPID(connection, logger)
        for run in 1...runs {
            try await connection.query("DELETE FROM fleet_incidents", logger: logger)
            try await connection.query("DELETE FROM fleet_counters", logger: logger)
            try await connection.query("UPDATE fleet_projection_state SET last_fleet_seq = 0", logger: logger)
            try await connection.query("VACUUM ANALYZE fleet_incidents", logger: logger)
            var options = CentralProjector.Options(url: url)
            options.batchSize = batchSize
            options.workingSetLimit = workingSet
            options.stopWhenCaughtUp = true
            let projector = CentralProjector(options, logger: logger)
            let cpuBefore = processCPU()
            let serverBefore = postmaster.map(reapedCPU)
            let seconds = try await Bench.seconds { try await projector.run() }
            let cpu = processCPU() - cpuBefore
            // The projector's backends have exited once their connections closed: the postmaster reaps them.
            try await Task.sleep(for: .milliseconds(300))
            let serverCPU = serverBefore.flatMap { before in postmaster.map { reapedCPU($0) - before } }
            guard projector.eventsApplied == Int64(total) else {
                throw BenchError("the projector applied \(projector.eventsApplied) events, not \(total)")
            }
            let rate = Double(total) / seconds
            rates.append(rate)
            cpuPer100k.append(cpu / Double(total) * 100_000)
            if let serverCPU { serverCPUPer100k.append(serverCPU / Double(total) * 100_000) }
            say(
                "run \(run): \(Bench.grouped(rate)) events/s (\(String(format: "%.2f", seconds)) s), "
                    + "selfheal's CPU \(String(format: "%.2f", cpu)) s"
                    + (serverCPU.map { ", PostgreSQL's backends' CPU \(String(format: "%.2f", $0)) s" } ?? "")
            )
        }
        let counts = try await connection.query(
            "SELECT (SELECT count(*) FROM fleet_incidents)::bigint, (SELECT count(*) FROM fleet_counters)::bigint",
            logger: logger
        )
        for try await (incidents, counters) in counts.decode((Int64, Int64).self) {
            say("projections: \(Bench.grouped(Double(incidents))) incidents, \(counters) counters rows")
        }
        try await connection.close()
        let serverNote =
            serverCPUPer100k.isEmpty
            ? " (PostgreSQL's CPU not measured: its server is not on this machine)"
            : String(format: ", PostgreSQL's backends' %.3f s", Bench.median(serverCPUPer100k))
        say(
            "median: \(Bench.grouped(Bench.median(rates))) events/s; CPU per 100,000 events: selfheal's "
                + String(format: "%.3f s", Bench.median(cpuPer100k)) + serverNote
        )
    }

    /// The PostgreSQL server's postmaster, when it runs on this machine: the parent of this connection's backend.
    static func postmasterPID(_ connection: PostgresConnection, _ logger: Logger) async throws -> Int32? {
        var backend: Int32 = 0
        for try await pid in try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self) {
            backend = pid
        }
        guard let status = try? String(contentsOfFile: "/proc/\(backend)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("PPid:") }),
            let parent = Int32(line.dropFirst(5).trimmingCharacters(in: .whitespaces))
        else { return nil }
        return parent
    }

    /// The CPU time of a process's reaped children (/proc/PID/stat cutime + cstime), seconds: for the postmaster,
    /// that of every backend that has exited.
    static func reapedCPU(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after the command: state is field 3; cutime and cstime are fields 16 and 17.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 14, let user = Double(fields[13]), let system = Double(fields[14]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The process's user + system CPU time, seconds.
    static func processCPU() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Stores the workload as 4 forwarders would: batches of 1,000 events from one host, round-robin, each with
    /// its link; written with COPY.
    static func fillLog(_ workload: FleetWorkload, _ connection: PostgresConnection, _ logger: Logger) async throws {
        let hosts = ["host-1", "host-2", "host-3", "host-4"]
        var seqs = [Int64](repeating: 0, count: hosts.count)
        var hashes = [[UInt8]](repeating: EventRowsHasher.zero, count: hosts.count)
        var links: [(host: String, lastSeq: Int64, hash: [UInt8])] = []
        var rows = ""
        rows.reserveCapacity(workload.lines.count * 200)
        var fleetSeq: Int64 = 0
        var lastTS = [Int64](repeating: 0, count: hosts.count)
        for (batchIndex, start) in stride(from: 0, to: workload.lines.count, by: 1_000).enumerated() {
            let host = batchIndex % hosts.count
            let hasher = EventRowsHasher(previous: hashes[host])
            for (_, line) in workload.lines[start..<min(start + 1_000, workload.lines.count)] {
                guard case .event(let event) = try WireDecoder.decode(line) else { continue }
                fleetSeq += 1
                seqs[host] += 1
                let ts = event.timestamp ?? 0
                lastTS[host] = ts
                hasher.add(StoredEvent(seq: seqs[host], timestamp: ts, receivedAt: ts, event: event, peer: nil))
                let fields: [String?] = [
                    "\(fleetSeq)", hosts[host], "\(seqs[host])", "\(ts)", "\(ts)", event.service, event.component,
                    event.kind.name, event.effectiveLevel.name, event.message, event.incident, event.id,
                    event.attributesJSON, nil, nil,
                ]
                rows += fields.map { $0.map(copyText) ?? "\\N" }.joined(separator: "\t")
                rows += "\n"
            }
            hashes[host] = hasher.finish()
            links.append((hosts[host], seqs[host], hashes[host]))
        }
        try await connection.copyFrom(
            table: "fleet_events",
            columns: [
                "fleet_seq", "host_id", "seq", "ts", "received_at", "service", "component", "kind", "level", "message",
                "incident", "event_id", "attrs", "peer_uid", "peer_pid",
            ],
            logger: logger
        ) { writer in
            var offset = rows.utf8.startIndex
            let utf8 = rows.utf8
            while offset < utf8.endIndex {
                let end = utf8.index(offset, offsetBy: 1 << 20, limitedBy: utf8.endIndex) ?? utf8.endIndex
                try await writer.write(ByteBuffer(bytes: utf8[offset..<end]))
                offset = end
            }
        }
        for link in links {
            try await connection.query(
                """
                INSERT INTO fleet_links (host_id, last_seq, hash) VALUES (\(link.host), \(link.lastSeq), \
                \(ByteBuffer(bytes: link.hash)))
                """,
                logger: logger
            )
        }
        for (index, host) in hosts.enumerated() {
            try await connection.query(
                """
                INSERT INTO fleet_hosts (host_id, forwarded_seq, last_ts, last_hash)
                VALUES (\(host), \(seqs[index]), \(lastTS[index]), \(ByteBuffer(bytes: hashes[index])))
                """,
                logger: logger
            )
        }
        try await connection.query("UPDATE fleet_head SET last_fleet_seq = \(fleetSeq)", logger: logger)
        try await connection.query("VACUUM ANALYZE fleet_events", logger: logger)
    }

    /// A field in COPY's text format: backslash, tab, newline and carriage return escaped.
    static func copyText(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) else { return text }
        return text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\t", with: "\\t")
            .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
    }
}
