import Foundation
import SelfHealEvents
import SelfHealStore

/// `selfheal-bench memory [--incidents N] [--checkpoints A,B,...] [--runs R] [--selfheal PATH]`: `selfheal serve`
/// as a process of its own, fed by 4 clients flat out with events that each open an incident that never
/// resolves; the daemon's peak and current resident memory (VmHWM, VmRSS) as the active incidents grow.
enum MemoryBenchmark {
    static func run(_ arguments: [String]) async throws {
        let total = Int(Bench.option(arguments, "incidents", default: "1000000")) ?? 1_000_000
        let runs = Int(Bench.option(arguments, "runs", default: "1")) ?? 1
        let clients = Int(Bench.option(arguments, "clients", default: "4")) ?? 4
        let checkpoints =
            (Bench.option(arguments, "checkpoints", default: "100000,250000,500000").split(separator: ",")
            .compactMap { Int($0) }.filter { $0 < total } + [total]).sorted()
        let executable = Bench.option(arguments, "selfheal", default: siblingExecutable("selfheal"))
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchError(
                "no selfheal executable at \(executable): build it (swift build -c release) or pass --selfheal"
            )
        }
        say(
            "memory: \(executable) serve (durability full, projections as shipped), \(clients) clients flat out, "
                + "one new incident per event (none resolves); median of \(runs) run\(runs == 1 ? "" : "s")"
        )
        var peaks: [Int: [Double]] = [:]
        var residents: [Int: [Double]] = [:]
        var rates: [Int: [Double]] = [:]
        var idle: [Double] = []
        let start = Int64(Date().timeIntervalSince1970 * 1_000) - 3_600_000
        for _ in 0..<runs {
            let directory = try Bench.temporaryDirectory("memory")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let daemon = Process()
            daemon.executableURL = URL(fileURLWithPath: executable)
            daemon.arguments = ["serve", "--data-dir", directory, "--log-level", "error"]
            try daemon.runWithSignalsUnblocked()
            defer { if daemon.isRunning { daemon.terminate() } }
            let socket = directory + "/ingest.sock"
            try Clients.waitForSocket(socket)
            idle.append(try memory(of: daemon.processIdentifier).resident)
            var sent = 0
            for checkpoint in checkpoints {
                let lines = (sent..<checkpoint).map {
                    KeysBenchmark.line(index: $0, key: "key-" + KeysBenchmark.digits($0, width: 7), start: start)
                }
                let outcome = try await Clients.send(Clients.deal(lines, to: clients), path: socket)
                sent += outcome.sent
                let figures = try memory(of: daemon.processIdentifier)
                peaks[checkpoint, default: []].append(figures.peak)
                residents[checkpoint, default: []].append(figures.resident)
                rates[checkpoint, default: []].append(outcome.rate)
            }
            daemon.terminate()
            daemon.waitUntilExit()
            guard daemon.terminationStatus == 0 else {
                throw BenchError("selfheal serve exited with status \(daemon.terminationStatus)")
            }
            try check(directory + "/events.db", events: sent)
        }
        say(String(format: "daemon started, before any event: VmRSS %.1f MB", Bench.median(idle)))
        say("active incidents  VmHWM (MB)  VmRSS (MB)  events/s since the previous line")
        for checkpoint in checkpoints {
            say(
                Bench.grouped(Double(checkpoint)).padded(18)
                    + String(format: "%.1f", Bench.median(peaks[checkpoint] ?? [])).padded(12)
                    + String(format: "%.1f", Bench.median(residents[checkpoint] ?? [])).padded(12)
                    + Bench.grouped(Bench.median(rates[checkpoint] ?? []))
            )
        }
        say(
            String(
                format: "at %@ active incidents: VmHWM %.1f MB (target < 96 MB)",
                Bench.grouped(Double(total)),
                Bench.median(peaks[total] ?? [])
            )
        )
    }

    /// Checks, once the daemon has stopped, that the log holds every event and that every incident is active.
    static func check(_ path: String, events: Int) throws {
        let store = try EventStore(StoreConfiguration(path: path, readOnly: true))
        let stored = try store.lastSeq()
        var incidents = 0
        var active = 0
        try store.forEachIncident(IncidentFilter(since: Timestamp.minimum, until: Timestamp.maximum, asOf: Timestamp.minimum)) { incident in
            incidents += 1
            if incident.resolvedAt == nil { active += 1 }
        }
        guard stored == Int64(events), incidents == events, active == events else {
            throw BenchError(
                "sent \(events) events; the store holds \(stored) events, \(incidents) incidents, \(active) active"
            )
        }
    }

    /// The peak and current resident memory of a process, in MB, from /proc/PID/status.
    static func memory(of pid: Int32) throws -> (peak: Double, resident: Double) {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func field(_ name: String) throws -> Double {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }),
                let kilobytes = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap({
                    Double($0)
                })
            else { throw BenchError("no \(name) in /proc/\(pid)/status") }
            return kilobytes / 1_024
        }
        return (try field("VmHWM"), try field("VmRSS"))
    }

    /// The path of an executable built beside this one.
    static func siblingExecutable(_ name: String) -> String {
        let own = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return own.deletingLastPathComponent().appendingPathComponent(name).path
    }
}
