import Foundation
@_spi(Benchmarks) import SelfHealStore

/// What the hash chain costs: the ingest benchmark's paths (the store in batches of 1,000, and the daemon over
/// the socket with one client) with the chain off and on, back to back in each run so that the machine's drift
/// weighs on both alike.
enum ChainBenchmark {
    static func run(_ arguments: [String]) async throws {
        let total = Int(Bench.option(arguments, "events", default: "500000")) ?? 500_000
        let runs = Int(Bench.option(arguments, "runs", default: "5")) ?? 5
        let durability = Durability(rawValue: Bench.option(arguments, "durability", default: "full")) ?? .full
        let lines = IngestBenchmark.makeLines(total)
        say("chain: \(Bench.grouped(Double(total))) events, durability \(durability.rawValue), median of \(runs) runs")
        say("path                              without chain  with chain  cost")
        defer { HashChainSwitch.set(enabled: true) }
        var store: [Bool: [Double]] = [:]
        var socket: [Bool: [Double]] = [:]
        for _ in 0..<runs {
            for enabled in [false, true] {
                HashChainSwitch.set(enabled: enabled)
                store[enabled, default: []].append(try await IngestBenchmark.ceilingRate(lines, durability))
                socket[enabled, default: []].append(
                    try await IngestBenchmark.socketRate(
                        lines,
                        durability: durability,
                        clients: 1,
                        syncEvery: 1_000,
                        projections: false
                    )
                )
            }
        }
        for (name, rates) in [("store, batches of 1,000", store), ("socket, 1 client, log only", socket)] {
            let without = Bench.median(rates[false] ?? [])
            let with = Bench.median(rates[true] ?? [])
            let cost = String(format: "%.1f%%", (1 - with / without) * 100)
            say(name.padded(34) + Bench.grouped(without).padded(15) + Bench.grouped(with).padded(12) + cost)
            say(
                "  runs without: \(rates[false]!.map { Bench.grouped($0) }), with: \(rates[true]!.map { Bench.grouped($0) })"
            )
        }
    }
}
