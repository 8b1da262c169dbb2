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

    static func queries(_ arguments: [String]) async throws {
        let events = Int(Bench.option(arguments, "store-events", default: "10000000")) ?? 10_000_000
        let days = Int(Bench.option(arguments, "days", default: "60")) ?? 60
        let count = Int(Bench.option(arguments, "queries", default: "200")) ?? 200
        let keep = Bench.option(arguments, "keep", default: "")
        let directory = keep.isEmpty ? try Bench.temporaryDirectory("queries") : keep
        defer { if keep.isEmpty { try? FileManager.default.removeItem(atPath: directory) } }
        let path = (directory as NSString).appendingPathComponent("events.db")
        let generator = DayGenerator(days: days, totalEvents: events)
        if FileManager.default.fileExists(atPath: path) {
            say("reusing \(path)")
        } else {
            var generator = generator
            let store = try EventStore(StoreConfiguration(path: path, durability: .normal))
            let started = ContinuousClock.now
            var appended = 0
            while appended < events {
                let batch = generator.next(min(1_000, events - appended))
                _ = try store.append(batch)
                appended += batch.count
            }
            say("built \(Bench.grouped(Double(events))) events over \(days) days in \(ContinuousClock.now - started)")
        }
        let daemon = try await RunningDaemon.start(directory, durability: .full)
        let day = generator.start + Int64(days / 2) * 86_400_000
        let range =
            "since=\(Timestamp.formatRFC3339(day))&until=\(Timestamp.formatRFC3339(day + 86_400_000))"
            + "&as_of=\(Timestamp.formatRFC3339(day + 86_400_000))"
        let stop = Atomic<Bool>(false)
        let ingested = Atomic<Int>(0)
        let loaders = (0..<2).map { client in
            let thread = Thread {
                // Flat out: new events (ids never seen), 1,000 lines and a sync per write, as fast as it commits.
                var round = 0
                while !stop.load(ordering: .relaxed) {
                    let lines = (0..<1_000).map { index in
                        Array(
                            (#"{"service":"load-\#(client)","kind":"retry.attempt","component":"c\#(index % 50)","#
                                + #""id":"l\#(client)-\#(round)-\#(index)","message":"load"}"# + "\n").utf8
                        )
                    }
                    round += 1
                    guard
                        (try? PipelinedClient(path: daemon.configuration.socketPath).send(lines, syncEvery: 1_000))
                            != nil
                    else { break }
                    ingested.add(1_000, ordering: .relaxed)
                }
            }
            thread.start()
            return thread
        }
        _ = loaders
        let client = try BenchHTTPClient(port: daemon.port)
        var timings: [String: [Double]] = ["stats": [], "incidents": []]
        var sizes: [String: Int] = [:]
        let clock = ContinuousClock()
        let started = clock.now
        for index in 0..<(count * 2) {
            let name = index % 2 == 0 ? "stats" : "incidents"
            let begin = clock.now
            let reply = try client.get("/api/v1/\(name)?\(range)")
            let elapsed = clock.now - begin
            guard reply.status == 200 else { throw BenchError("\(name): HTTP \(reply.status)") }
            timings[name]!.append(
                Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3
            )
            sizes[name] = reply.body.count
        }
        let seconds = (clock.now - started)
        stop.store(true, ordering: .relaxed)
        let rate = Double(ingested.load(ordering: .relaxed)) / (Double(seconds.components.seconds) + 0.000001)
        await daemon.stop()
        say(
            "queries over one day of a \(Bench.grouped(Double(events)))-event store (\(days) days), \(count) of each, "
                + "one client, while 2 socket clients ingest flat out (~\(Bench.grouped(rate)) events/s meanwhile):"
        )
        say("query                 p50 ms   p99 ms   max ms   answer bytes")
        for name in ["stats", "incidents"] {
            let sorted = timings[name]!.sorted()
            let p50 = sorted[sorted.count / 2]
            let p99 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
            say(
                "GET /api/v1/\(name)".padded(22) + String(format: "%-9.1f%-9.1f%-9.1f", p50, p99, sorted.last!)
                    + Bench.grouped(Double(sizes[name] ?? 0))
            )
        }
    }

    // MARK: memory

    /// Peak resident memory of a real `selfheal serve --http` with many HTTP clients posting bodies.
    static func memory(_ arguments: [String]) throws {
        let clients = Int(Bench.option(arguments, "memory-clients", default: "64")) ?? 64
        let duration = Double(Bench.option(arguments, "memory-seconds", default: "20")) ?? 20
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("selfheal").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchError("no selfheal beside selfheal-bench: swift build -c release --product selfheal")
        }
        let directory = try Bench.temporaryDirectory("memory")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tokens = (directory as NSString).appendingPathComponent("tokens")
        try "\(token)\n".write(toFile: tokens, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "serve", "--data-dir", directory, "--http", "127.0.0.1:0", "--http-token-file", tokens, "--log-level",
            "error",
        ]
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let port = try waitForAddress((directory as NSString).appendingPathComponent("http.address"))
        let idle = residentKiB(process.processIdentifier, "VmRSS")
        let lines = IngestBenchmark.makeLines(1_000)
        let stop = Atomic<Bool>(false)
        let posted = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let group = DispatchGroup()
        for client in 0..<clients {
            group.enter()
            Thread {
                defer { group.leave() }
                guard let connection = try? BenchHTTPClient(port: port) else {
                    failures.add(1, ordering: .relaxed)
                    return
                }
                var round = 0
                while !stop.load(ordering: .relaxed) {
                    // Fresh ids each body: every event is new work for the writer.
                    let text = String(decoding: lines.joined(), as: UTF8.self)
                        .replacingOccurrences(of: "\"evt-", with: "\"m\(client)-\(round)-")
                    round += 1
                    guard let reply = try? connection.post(Array(text.utf8)), reply.status == 200 else {
                        failures.add(1, ordering: .relaxed)
                        return
                    }
                    posted.add(1, ordering: .relaxed)
                }
            }.start()
        }
        var peakSampled = idle
        let end = Date().addingTimeInterval(duration)
        while Date() < end {
            peakSampled = max(peakSampled, residentKiB(process.processIdentifier, "VmRSS"))
            usleep(100_000)
        }
        let highWater = residentKiB(process.processIdentifier, "VmHWM")
        stop.store(true, ordering: .relaxed)
        group.wait()
        say(
            "memory: \(clients) HTTP clients posting 1,000-event bodies for \(Int(duration)) s "
                + "(\(Bench.grouped(Double(posted.load(ordering: .relaxed) * 1_000))) events, "
                + "\(failures.load(ordering: .relaxed)) failed clients): resident idle \(idle / 1_024) MiB, "
                + "peak sampled \(peakSampled / 1_024) MiB, VmHWM \(highWater / 1_024) MiB"
        )
    }

    /// A field of /proc/PID/status in KiB.
    static func residentKiB(_ pid: Int32, _ field: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }
}
