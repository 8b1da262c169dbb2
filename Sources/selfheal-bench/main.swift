import Foundation

// selfheal-bench BENCHMARK [OPTIONS]: measurements on a release build (swift run -c release selfheal-bench ...).
let benchmarks: [String: ([String]) throws -> Void] = [
    "projections": ProjectionBenchmark.run
]

let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first, let benchmark = benchmarks[name] else {
    print("usage: selfheal-bench \(benchmarks.keys.sorted().joined(separator: "|")) [OPTIONS]")
    exit(2)
}
do {
    try benchmark(Array(arguments.dropFirst()))
} catch {
    FileHandle.standardError.write(Data("selfheal-bench: \(error)\n".utf8))
    exit(1)
}
