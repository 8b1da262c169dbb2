import Foundation
import SelfHealEvents
import SelfHealStore

/// `selfheal-bench keys [--events N] [--runs R] [--scales 0.1,1,10] [--budget S] [--shapes end,middle,...]`:
/// events that each open an incident of their own, over the real socket to the real daemon with projections,
/// with incident keys of several shapes; the rate of each shape and the slowest against the fastest.
enum KeysBenchmark {
    /// A shape of incident key: a name, and the key of the n-th incident for a run of `count` incidents.
    struct Shape: Sendable {
        var name: String
        var key: @Sendable (_ index: Int, _ count: Int) -> String
    }

    static let shapes: [Shape] = [
        Shape(name: "end") { index, count in "key-" + digits(index, width: width(count, least: 7)) },
        Shape(name: "middle") { index, count in "order-" + digits(index, width: width(count)) + "-payment" },
        Shape(name: "path") { index, count in "tenant-eu-1/" + digits(index, width: width(count)) + "/db-pool" },
        Shape(name: "long60") { index, count in
            // 60 bytes, the digits from byte 40.
            let head = "region-eu-west-1/cluster-07/tenant-0042/" + digits(index, width: width(count))
            return head + String("/db-pool-primary-replica-set".prefix(max(0, 60 - head.utf8.count)))
        },
    ]

    static func run(_ arguments: [String]) async throws {
        let total = Int(Bench.option(arguments, "events", default: "1000000")) ?? 1_000_000
        let runs = Int(Bench.option(arguments, "runs", default: "3")) ?? 3
        let budget = Double(Bench.option(arguments, "budget", default: "60")) ?? 60
        let clients = Int(Bench.option(arguments, "clients", default: "4")) ?? 4
        let scales = Bench.option(arguments, "scales", default: "1").split(separator: ",").compactMap { Double($0) }
        let names = Bench.option(arguments, "shapes", default: shapes.map(\.name).joined(separator: ","))
            .split(separator: ",").map(String.init)
        let chosen = try names.map { name in
            guard let shape = shapes.first(where: { $0.name == name }) else {
                throw BenchError("unknown shape \(name); the shapes are \(shapes.map(\.name).joined(separator: ", "))")
            }
            return shape
        }
        say(
            "keys: events that each open an incident (error.detected with an incident key), \(clients) connections, "
                + "projections on, durability full, sync every 1,000; median of \(runs) runs; a run stops after "
                + "\(Int(budget)) s (marked *)"
        )
        var perEvent: [String: [Double: Double]] = [:]
        var cut: Set<String> = []
        for scale in scales {
            let count = max(clients, Int((Double(total) * scale).rounded()))
            say("")
            say("\(Bench.grouped(Double(count))) events")
            say(
                "shape     bytes  example                                                       events/s   µs/event  of fastest"
            )
            var rates: [(shape: Shape, rate: Double, stopped: Bool, example: String)] = []
            for shape in chosen {
                let start = Int64(Date().timeIntervalSince1970 * 1_000) - 3_600_000
                let lines = (0..<count).map { line(index: $0, key: shape.key($0, count), start: start) }
                let shares = Clients.deal(lines, to: clients)
                var measured: [Double] = []
                var stopped = false
                for _ in 0..<runs {
                    let outcome = try await Clients.throughDaemon(
                        shares,
                        durability: .full,
                        projections: true,
                        deadline: .milliseconds(Int(budget * 1_000)),
                        // At most 2,000 lines per client await their commit: a slow run ends soon after its budget.
                        window: 2
                    )
                    say(
                        String(
                            format: "  %@: %@ events in %.1f s",
                            shape.name,
                            Bench.grouped(Double(outcome.sent)),
                            outcome.seconds
                        )
                    )
                    measured.append(outcome.rate)
                    if outcome.sent < count { stopped = true }
                }
                rates.append((shape, Bench.median(measured), stopped, shape.key(count / 2, count)))
            }
            let fastest = rates.map(\.rate).max() ?? .nan
            for entry in rates {
                perEvent[entry.shape.name, default: [:]][scale] = 1e6 / entry.rate
                if entry.stopped { cut.insert("\(entry.shape.name) \(scale)") }
                say(
                    entry.shape.name.padded(10) + String(entry.example.utf8.count).padded(7)
                        + entry.example.padded(62) + (Bench.grouped(entry.rate) + (entry.stopped ? "*" : "")).padded(11)
                        + String(format: "%.2f", 1e6 / entry.rate).padded(10)
                        + String(format: "%.0f%%", entry.rate / fastest * 100)
                )
            }
            let slowest = rates.min { $0.rate < $1.rate }
            if let slowest, let best = rates.max(by: { $0.rate < $1.rate }) {
                say(
                    String(
                        format: "slowest/fastest: %.2f (%@ against %@; target >= 0.80)",
                        slowest.rate / best.rate,
                        slowest.shape.name,
                        best.shape.name
                    )
                )
            }
        }
        guard scales.count > 1, let reference = scales.first(where: { $0 == 1 }) ?? scales.first else { return }
        say("")
        say(
            "cost per event against \(reference)x (\(Bench.grouped(Double(total) * reference)) events); * a scale "
                + "stopped by the budget, so over fewer events than it names"
        )
        for shape in chosen {
            let costs = perEvent[shape.name] ?? [:]
            let cells = scales.map { scale in
                String(format: "%gx: %.2f", scale, (costs[scale] ?? .nan) / (costs[reference] ?? .nan))
                    + (cut.contains("\(shape.name) \(scale)") ? "*" : "")
            }
            say(shape.name.padded(10) + cells.joined(separator: "  "))
        }
    }

    /// An `error.detected` event that names its own incident, of about 250 bytes.
    /// Times run from `start` (an hour ago) 3 ms apart, at most an hour: every incident stays active whatever
    /// the quiet period.
    static func line(index: Int, key: String, start: Int64) -> [UInt8] {
        let ts = Timestamp.formatRFC3339(start + Int64(index % 1_000_000) * 3)
        let text =
            #"{"service":"checkout","kind":"error.detected","component":"payments","ts":"\#(ts)","#
            + #""message":"Payment provider answered 503 for the order","incident":"\#(key)","#
            + #""id":"evt-\#(index)","attrs":{"status":503,"attempt":1}}"#
        return Array(text.utf8) + [0x0A]
    }

    /// The number of digits the indexes of `count` incidents need, at least `least`.
    static func width(_ count: Int, least: Int = 6) -> Int { max(least, String(max(0, count - 1)).count) }

    /// `index` in decimal, zero-padded to `width`.
    static func digits(_ index: Int, width: Int) -> String {
        let text = String(index)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
