import Foundation
import SelfHealEvents
import SelfHealStore

/// `selfheal-bench projections [--events N] [--days D] [--batch B] [--skip-baseline] [--keep DIR]`: ingest with
/// and without projections, then time `incidents` over a day, `stats` over a day and a week, and `rebuild`.
enum ProjectionBenchmark {
    struct Options {
        var events = 10_000_000
        var days = 60
        var batch = 1_000
        var baseline = true
        var keep: String?
        var runs = 9

        init(_ arguments: [String]) throws {
            var rest = arguments[...]
            while let argument = rest.popFirst() {
                func value() throws -> String {
                    guard let value = rest.popFirst() else { throw BenchError("\(argument) needs a value") }
                    return value
                }
                switch argument {
                case "--events": events = Int(try value()) ?? events
                case "--days": days = Int(try value()) ?? days
                case "--batch": batch = Int(try value()) ?? batch
                case "--runs": runs = Int(try value()) ?? runs
                case "--skip-baseline": baseline = false
                case "--keep": keep = try value()
                default: throw BenchError("unknown argument \(argument)")
                }
            }
        }
    }

    static func run(_ arguments: [String]) throws {
        let options = try Options(arguments)
        let base =
            options.keep
            ?? (NSTemporaryDirectory() as NSString)
            .appendingPathComponent("selfheal-bench-\(UUID().uuidString)")
        defer { if options.keep == nil { try? FileManager.default.removeItem(atPath: base) } }
        say(
            "\(options.events) events over \(options.days) days, \(options.batch) events per commit, durability normal"
        )

        let path = (base as NSString).appendingPathComponent("projected/events.db")
        if options.keep != nil && FileManager.default.fileExists(atPath: path) {
            say("reusing \(path)")
            let store = try EventStore(StoreConfiguration(path: path, durability: .normal))
            try measure(store, start: DayGenerator(days: options.days, totalEvents: options.events).start, options)
            return
        }
        // The same events go to a store without projections and to one with them, alternating every 100
        // commits, so that the machine's drift (other processes) weighs on both alike.
        let store = try EventStore(StoreConfiguration(path: path, durability: .normal))
        let baselinePath = (base as NSString).appendingPathComponent("baseline/events.db")
        let baseline =
            options.baseline
            ? try EventStore(StoreConfiguration(path: baselinePath, durability: .normal, projections: false)) : nil
        var generator = DayGenerator(days: options.days, totalEvents: options.events)
        let clock = ContinuousClock()
        var elapsed = (on: Duration.zero, off: Duration.zero)
        var appended = 0
        while appended < options.events {
            var batches: [[IncomingEvent]] = []
            for _ in 0..<100 where appended < options.events {
                let batch = generator.next(min(options.batch, options.events - appended))
                batches.append(batch)
                appended += batch.count
            }
            if let baseline {
                let start = clock.now
                for batch in batches { _ = try baseline.append(batch) }
                elapsed.off += clock.now - start
            }
            let start = clock.now
            for batch in batches { _ = try store.append(batch) }
            elapsed.on += clock.now - start
        }
        let rate = Double(appended) / elapsed.on.seconds
        if baseline != nil {
            let baselineRate = Double(appended) / elapsed.off.seconds
            say(String(format: "ingest, projections off: %.0f events/s", baselineRate))
            say(
                String(
                    format: "ingest, projections on:  %.0f events/s (%.1f %% of off)",
                    rate,
                    rate / baselineRate * 100
                )
            )
            try? FileManager.default.removeItem(atPath: (baselinePath as NSString).deletingLastPathComponent)
        } else {
            say(String(format: "ingest, projections on:  %.0f events/s", rate))
        }
        try measure(store, start: generator.start, options)
    }

    /// Times the queries and a rebuild on a filled store.
    static func measure(_ store: EventStore, start: Int64, _ options: Options) throws {
        let incidentCount = try store.allIncidentCount()
        say("store: \(try store.lastSeq()) events, \(incidentCount) incidents")

        // A weekday in the middle of the range, and the week from it.
        let day = start + Int64(options.days / 2) * 86_400_000
        let week = day + 7 * 86_400_000
        var dayIncidents = 0
        let incidentsDay = try median(options.runs) {
            dayIncidents = try store.incidents(
                IncidentFilter(since: day, until: day + 86_400_000, asOf: day + 86_400_000)
            ).count
        }
        say(String(format: "incidents over one day (%d incidents): median %.1f ms", dayIncidents, incidentsDay))
        var figures = try store.stats(since: day, until: day + 86_400_000, asOf: day + 86_400_000)
        let statsDay = try median(options.runs) {
            figures = try store.stats(since: day, until: day + 86_400_000, asOf: day + 86_400_000)
        }
        say(
            String(
                format: "stats over one day (%d events, %d incidents): median %.1f ms",
                figures.events,
                figures.incidents,
                statsDay
            )
        )
        let statsWeek = try median(options.runs) { figures = try store.stats(since: day, until: week, asOf: week) }
        say(
            String(
                format: "stats over one week (%d events, %d incidents): median %.1f ms",
                figures.events,
                figures.incidents,
                statsWeek
            )
        )
        let offset = day + 1_234_567
        let statsUnaligned = try median(options.runs) {
            figures = try store.stats(since: offset, until: offset + 86_400_000, asOf: offset + 86_400_000)
        }
        say(String(format: "stats over 24 h not on the hour: median %.1f ms", statsUnaligned))
        let statsService = try median(options.runs) {
            figures = try store.stats(since: day, until: week, service: "svc-03", asOf: week)
        }
        say(String(format: "stats over one week, one service: median %.1f ms", statsService))

        let rebuilt = try store.rebuild()
        say(
            String(
                format: "rebuild: %d events in %.1f s, %.0f events/s",
                rebuilt.events,
                rebuilt.seconds,
                rebuilt.eventsPerSecond
            )
        )
    }

    /// The median wall time of `runs` calls after one warm-up, in milliseconds.
    static func median(_ runs: Int, _ body: () throws -> Void) throws -> Double {
        try body()
        let clock = ContinuousClock()
        var times: [Double] = []
        for _ in 0..<max(1, runs) {
            let start = clock.now
            try body()
            times.append((clock.now - start).seconds * 1_000)
        }
        return times.sorted()[times.count / 2]
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension EventStore {
    func allIncidentCount() throws -> Int {
        var count = 0
        try forEachIncident(IncidentFilter(since: Timestamp.minimum, until: Timestamp.maximum, asOf: Timestamp.maximum))
        { _ in count += 1 }
        return count
    }
}

/// Realistic days of events: 20 services with 10 components each; about one event in ten opens an incident
/// (a pool exhausted and recovered within a second, an API recovered by retries and its breaker within
/// seconds, a health check degraded for minutes, an external API whose retries are exhausted and which is
/// recovered minutes later, or one that stays failed for hours); the rest are prevented timeouts, blocked
/// transitions, throttled clients, completed batches and custom events.
struct DayGenerator {
    let start: Int64 = 1_764_028_800_000 - 30 * 86_400_000
    private var random = SplitMix64(seed: 42)
    private var pending: [IncomingEvent] = []
    private var time: Int64
    private let step: Double
    private var incidentNumber = 0
    static let services = (0..<20).map { String(format: "svc-%02d", $0) }
    static let components = [
        "db-pool", "/api/orders", "/api/manager/assistance", "openai", "stripe", "search",
        "health", "spam-capture", "orders", "gateway",
    ]

    init(days: Int, totalEvents: Int) {
        time = start
        step = Double(days) * 86_400_000 / Double(totalEvents)
    }

    mutating func next(_ count: Int) -> [IncomingEvent] {
        while pending.count < count { unit() }
        let batch = Array(pending.prefix(count))
        pending.removeFirst(count)
        return batch
    }

    private mutating func event(
        _ kind: EventKind,
        _ ts: Int64,
        _ service: String,
        _ component: String,
        incident: String? = nil,
        message: String? = nil
    ) {
        pending.append(
            IncomingEvent(
                event: Event(
                    service: service,
                    kind: kind,
                    component: component,
                    timestamp: ts,
                    message: message,
                    incident: incident
                ),
                receivedAt: ts,
                peer: nil
            )
        )
    }

    /// One scenario, advancing time by its share of the range.
    private mutating func unit() {
        let service = Self.services[Int.random(in: 0..<Self.services.count, using: &random)]
        let component = Self.components[Int.random(in: 0..<Self.components.count, using: &random)]
        let t = time
        let roll = Int.random(in: 0..<1000, using: &random)
        let before = pending.count
        switch roll {
        case 0..<39:  // pool exhausted, recovered within a second
            event(.poolWarning, t, service, "db-pool")
            event(.poolCritical, t + 200, service, "db-pool", message: "Pool exhausted")
            event(.poolRecovered, t + Int64.random(in: 300...999, using: &random), service, "db-pool")
        case 39..<78:  // API: retries and breaker within seconds
            let api = "/api/orders"
            event(.errorDetected, t, service, api, message: "503 from upstream")
            event(.retryAttempt, t + 100, service, api)
            event(.retryAttempt, t + 400, service, api)
            event(.breakerOpened, t + 1_000, service, api)
            event(.breakerHalfOpened, t + 3_000, service, api)
            event(.breakerClosed, t + Int64.random(in: 3_100...9_000, using: &random), service, api)
        case 78..<110:  // health degraded for minutes
            event(.healthDegraded, t, service, "search")
            event(.healthRecovered, t + Int64.random(in: 30_000...600_000, using: &random), service, "search")
        case 110..<123:  // external API: retries exhausted, recovered later, by incident key
            incidentNumber += 1
            let key = "ext-\(incidentNumber)"
            event(.retryAttempt, t, service, "openai", incident: key)
            event(.retryAttempt, t + 1_000, service, "openai", incident: key)
            event(.retryExhausted, t + 3_000, service, "openai", incident: key, message: "3 attempts failed")
            event(
                .recoverySucceeded,
                t + Int64.random(in: 60_000...900_000, using: &random),
                service,
                "openai",
                incident: key
            )
        case 123..<130:  // failed for hours
            event(.retryExhausted, t, service, "stripe")
            event(.interventionRequired, t + 5_000, service, "stripe")
            event(.recoverySucceeded, t + Int64.random(in: 3_600_000...30_000_000, using: &random), service, "stripe")
        case 130..<400:
            event(.timeoutPrevented, t, service, "spam-capture")
        case 400..<500:
            event(.transitionBlocked, t, service, "orders")
        case 500..<600:
            event(.ratelimitThrottled, t, service, "gateway")
        case 600..<900:
            event(.batchCompleted, t, service, "spam-capture")
        default:
            event(EventKind(name: "x.cache.miss")!, t, service, component)
        }
        time += Int64((Double(pending.count - before) * step).rounded())
    }
}
