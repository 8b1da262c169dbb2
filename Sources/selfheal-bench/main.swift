import Foundation

// selfheal-bench: release-build benchmarks of the real paths. Run with
//   swift run -c release selfheal-bench <benchmark> [options]
// Each benchmark prints a table of medians; see the README for the figures we measured.

let benchmarks: [String: ([String]) async throws -> Void] = [
    "http": HTTPBenchmark.run,
    "ingest": IngestBenchmark.run,
    "keys": KeysBenchmark.run,
    "memory": MemoryBenchmark.run,
    "mixed": MixedBenchmark.run,
    "projections": ProjectionBenchmark.run,
    "chain": ChainBenchmark.run,
    "overload": OverloadBenchmark.run,
    // fleet central | fleet forward
    "fleet": {
        $0.first == "forward" ? try await FleetForwardBenchmark.run($0) : try await FleetCentralBenchmark.run($0)
    },
]

let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first, let benchmark = benchmarks[name] else {
    let names = benchmarks.keys.sorted().joined(separator: "|")
    FileHandle.standardError.write(Data("usage: selfheal-bench \(names) [options]\n".utf8))
    exit(2)
}
do {
    try await benchmark(Array(arguments.dropFirst()))
} catch {
    FileHandle.standardError.write(Data("selfheal-bench: \(error)\n".utf8))
    exit(1)
}
