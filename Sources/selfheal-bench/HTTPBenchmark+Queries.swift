import Foundation
import SelfHealEvents
import SelfHealServer
import SelfHealStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension HTTPBenchmark {
    // MARK: queries

    /// p50/p99 of `GET /api/v1/stats` and `/api/v1/incidents` over one day of a generated store, while socket
    /// clients ingest flat out (`--ingest on`), with nothing else running (`--ingest off`), or both in turn
    /// (default), `--query-runs` runs of each, each run a fresh daemon on the same store. `--keep DIR` keeps the
    /// store (built once, several minutes for 10,000,000 events) for the next invocation.
    static func queries(_ arguments: [String]) async throws {
        let events = Int(Bench.option(arguments, "store-events", default: "10000000")) ?? 10_000_000
        let days = Int(Bench.option(arguments, "days", default: "60")) ?? 60
        let count = Int(Bench.option(arguments, "queries", default: "200")) ?? 200
        let runs = Int(Bench.option(arguments, "query-runs", default: "3")) ?? 3
        let modes: [Bool] =
            switch Bench.option(arguments, "ingest", default: "both") {
            case "on": [true]
            case "off": [false]
            default: [false, true]
            }
        let keep = Bench.option(arguments, "keep", default: "")
        let directory = keep.isEmpty ? try Bench.temporaryDirectory("queries") : keep
        defer { if keep.isEmpty { try? FileManager.default.removeItem(atPath: directory) } }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("events.db")
        let generator = DayGenerator(days: days, totalEvents: events)
        if FileManager.default.fileExists(atPath: path) {
            say("reusing \(path)")
        } else {
            try build(path, generator: generator, events: events)
            say("built \(Bench.grouped(Double(events))) events over \(days) days")
        }
        let day = generator.start + Int64(days / 2) * 86_400_000
        let query =
            "since=\(Timestamp.formatRFC3339(day))&until=\(Timestamp.formatRFC3339(day + 86_400_000))"
            + "&as_of=\(Timestamp.formatRFC3339(day + 86_400_000))"
        say(
            "queries over one day (\(Timestamp.formatRFC3339(day)), as of its end), \(count) of each per run "
                + "after 3 untimed, one client, a fresh daemon per run"
        )
        for ingest in modes {
            var results: [QueryRun] = []
            for run in 1...runs {
                let result = try await queryRun(directory, query: query, count: count, ingest: ingest)
                results.append(result)
                say("run \(run), ingest \(ingest ? "on" : "off"): \(result.summary)")
            }
            var line = "median of \(runs) runs, ingest \(ingest ? "on" : "off"):"
            for name in QueryRun.names {
                let p50 = Bench.median(results.map { $0.percentile(name, 50) })
                let p99 = Bench.median(results.map { $0.percentile(name, 99) })
                line += String(format: " %@ p50 %.1f ms p99 %.1f ms;", name, p50, p99)
                if !ingest {
                    line += String(format: " CPU %.1f ms/request;", Bench.median(results.map { $0.cpuMedian(name) }))
                }
            }
            say(line)
        }
    }

    /// Builds a store of generated days (`durability normal`: the build is not what is measured).
    private static func build(_ path: String, generator: DayGenerator, events: Int) throws {
        var generator = generator
        let store = try EventStore(StoreConfiguration(path: path, durability: .normal))
        let started = ContinuousClock.now
        var appended = 0
        while appended < events {
            let batch = generator.next(min(1_000, events - appended))
            _ = try store.append(batch)
            appended += batch.count
        }
        say("build took \(ContinuousClock.now - started)")
    }

    /// What one run saw: each request's wall time and the process's CPU time during it, in milliseconds.
    struct QueryRun {
        static let names = ["stats", "incidents"]
        var wall: [String: [Double]] = [:]
        var cpu: [String: [Double]] = [:]
        var bytes: [String: Int] = [:]
        var storeEvents: Int64 = 0
        var ingestRate: Double = 0
        var load: (start: String, end: String) = ("", "")

        func percentile(_ name: String, _ percent: Int) -> Double {
            let sorted = (wall[name] ?? []).sorted()
            guard !sorted.isEmpty else { return .nan }
            return sorted[min(sorted.count - 1, max(0, (sorted.count * percent + 99) / 100 - 1))]
        }

        func cpuMedian(_ name: String) -> Double { Bench.median(cpu[name] ?? []) }

        var summary: String {
            var text = "store \(Bench.grouped(Double(storeEvents))) events, load \(load.start) -> \(load.end)"
            if ingestRate > 0 { text += ", ingest \(Bench.grouped(ingestRate)) events/s meanwhile" }
            for name in Self.names {
                text += String(
                    format: "; %@ p50 %.1f p99 %.1f max %.1f ms, CPU %.1f ms, %@ bytes",
                    name,
                    percentile(name, 50),
                    percentile(name, 99),
                    (wall[name] ?? []).max() ?? .nan,
                    cpuMedian(name),
                    Bench.grouped(Double(bytes[name] ?? 0))
                )
            }
            return text
        }
    }

    /// One run: a daemon on the store, `count` of each query alternating, with or without 2 socket clients
    /// ingesting flat out (new events of their own services, 1,000 lines and a sync per write).
    private static func queryRun(
        _ directory: String,
        query: String,
        count: Int,
        ingest: Bool
    ) async throws
        -> QueryRun
    {
        var result = QueryRun()
        result.load.start = loadAverage()
        let daemon = try await RunningDaemon.start(directory, durability: .full)  // migrates a store of before
        result.storeEvents = try EventStore(StoreConfiguration(path: daemon.configuration.databasePath, readOnly: true))
            .lastSeq()
        // One commit before measuring: the first commit after a migration hashes the log's events (HashChain.swift).
        _ = try PipelinedClient(path: daemon.configuration.socketPath).send(
            [Array(#"{"service":"bench-settle","kind":"retry.attempt","id":"settle-\#(UUID())"}"#.utf8) + [0x0A]],
            syncEvery: 1
        )
        let stop = Atomic<Bool>(false)
        let ingested = Atomic<Int>(0)
        let loaders = DispatchGroup()
        for client in 0..<(ingest ? 2 : 0) {
            loaders.enter()
            Thread {
                defer { loaders.leave() }
                var round = 0
                let run = UUID().uuidString.prefix(8)
                while !stop.load(ordering: .relaxed) {
                    let lines = (0..<1_000).map { index in
                        Array(
                            (#"{"service":"load-\#(client)","kind":"retry.attempt","component":"c\#(index % 50)","#
                                + #""id":"l\#(run)-\#(client)-\#(round)-\#(index)","message":"load"}"# + "\n").utf8
                        )
                    }
                    round += 1
                    guard
                        (try? PipelinedClient(path: daemon.configuration.socketPath).send(lines, syncEvery: 1_000))
                            != nil
                    else { break }
                    ingested.add(1_000, ordering: .relaxed)
                }
            }.start()
        }
        let client = try BenchHTTPClient(port: daemon.port)
        for name in QueryRun.names {
            for _ in 0..<3 { _ = try client.get("/api/v1/\(name)?\(query)") }
        }
        let clock = ContinuousClock()
        let started = clock.now
        for index in 0..<(count * 2) {
            let name = QueryRun.names[index % 2]
            let cpuBefore = processCPUSeconds() * 1_000
            let begin = clock.now
            let reply = try client.get("/api/v1/\(name)?\(query)")
            let elapsed = clock.now - begin
            let cpu = processCPUSeconds() * 1_000 - cpuBefore
            guard reply.status == 200 else { throw BenchError("\(name): HTTP \(reply.status)") }
            result.wall[name, default: []].append(milliseconds(elapsed))
            result.cpu[name, default: []].append(cpu)
            result.bytes[name] = reply.body.count
        }
        let seconds = milliseconds(clock.now - started) / 1_000
        stop.store(true, ordering: .relaxed)
        result.ingestRate = Double(ingested.load(ordering: .relaxed)) / seconds
        loaders.wait()
        result.load.end = loadAverage()
        await daemon.stop()
        return result
    }

    private static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
    }

    /// The 1-minute load average, as `uptime` shows it.
    private static func loadAverage() -> String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?"
        return String(text.split(separator: " ").first ?? "?")
    }
}
