import Foundation
import SelfHealEvents
import SelfHealStore

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
        let share = lines.count / clients
        let shares = (0..<clients).map { Array(lines[($0 * share)..<(($0 + 1) * share)]) }
        return try await Clients.throughDaemon(
            shares,
            durability: durability,
            projections: projections,
            syncEvery: syncEvery
        ).rate
    }
}
