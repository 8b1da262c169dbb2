import Foundation
import SelfHealEvents
import SelfHealServer
import SelfHealStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension HTTPBenchmark {
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
