// Micro-benchmarks of the library's hot paths, in nanoseconds per call: wall-clock and process CPU time, each the
// median of 7 runs.
// Run in release: `swift run -c release selfheal-lib-bench [iterations] [name filter]`.
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import SelfHealEvents
import SelfHealing
import SelfHealingHummingbird

@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

/// The CPU time of the whole process so far (every thread: a hop to another thread counts), in nanoseconds.
func processCPUNanoseconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return Double(now.tv_sec) * 1e9 + Double(now.tv_nsec)
}

/// Runs `body(iterations)` `runs` times and returns the medians per iteration in nanoseconds: wall-clock time, and
/// the process's CPU time (which other processes loading the machine do not inflate as much).
func measure(
    runs: Int = 7,
    iterations: Int,
    _ body: (Int) async throws -> Void
) async rethrows -> (wall: Double, cpu: Double) {
    var walls: [Double] = []
    var cpus: [Double] = []
    for _ in 0..<runs {
        let cpuStart = processCPUNanoseconds()
        let start = ContinuousClock.now
        try await body(iterations)
        let (seconds, attoseconds) = start.duration(to: .now).components
        cpus.append((processCPUNanoseconds() - cpuStart) / Double(iterations))
        walls.append((Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(iterations))
    }
    return (walls.sorted()[runs / 2], cpus.sorted()[runs / 2])
}

let iterations = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 1_000_000
let filter = CommandLine.arguments.dropFirst(2).first ?? ""
let quiet = EventReporter(sink: NoopEventSink(), service: "bench", component: "dependency")

let breaker = CircuitBreaker(reporter: quiet)
let retry = Retry(policy: RetryPolicy(), reporter: quiet, budget: RetryBudget())
var healingConfiguration = HealingConfiguration()
healingConfiguration.flags = FeatureFlags()
let healing = Healing(service: "bench", sink: NoopEventSink(), configuration: healingConfiguration)
let limiter = RateLimiter(limit: RateLimit(capacity: 1_000_000_000, per: .seconds(1)), reporter: quiet)
// The issue's pipeline: an overall timeout, retry, and a breaker, each switched on, on the continuous clock.
let pipeline = PipelineBuilder(component: "dependency", reporter: quiet, flags: FeatureFlags())
    .timeout(.seconds(10))
    .retry(RetryPolicy(), budget: RetryBudget())
    .circuitBreaker()
    .build()
let timeout = Timeout(.seconds(10), reporter: quiet)
let pipelineWithoutTimeout = PipelineBuilder(component: "dependency", reporter: quiet, flags: FeatureFlags())
    .retry(RetryPolicy(), budget: RetryBudget())
    .circuitBreaker()
    .build()

// A router answering `GET /api/items/{id}` directly, and the same behind the middleware: the difference per request
// is the middleware's overhead (its rate limiter per client, bulkhead, breaker and response judging).
func responder(healed: Bool) -> some HTTPResponder<BasicRequestContext> {
    let router = Router()
    if healed {
        router.add(
            middleware: SelfHealingMiddleware(
                RouteHealing(service: "bench", sink: NoopEventSink(), flags: FeatureFlags())
            )
        )
    }
    router.get("/api/items/{id}") { _, _ in Response(status: .ok) }
    return router.buildResponder()
}
let plainResponder = responder(healed: false)
let healedResponder = responder(healed: true)
let context = BasicRequestContext(
    source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "bench"))
)
func request() -> Request {
    var head = HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: "/api/items/42")
    head.headerFields[HTTPField.Name("X-Forwarded-For")!] = "10.0.0.7"
    return Request(head: head, body: RequestBody(buffer: ByteBuffer()))
}

let socketPath = FileManager.default.temporaryDirectory.appendingPathComponent("selfheal-bench-absent.sock").path

let plainRequest = "Hummingbird router, no middleware (per request)"
let healedRequest = "Hummingbird router + SelfHealingMiddleware (per request; item 9: overhead < 2 us)"
let benchmarks: [(name: String, body: (Int) async throws -> Void)] = [
    (
        "baseline: direct async call",
        { count in
            for index in 0..<count { blackHole(try await { () async throws -> Int in index }()) }
        }
    ),
    (
        "closed circuit breaker",
        { count in
            for index in 0..<count { blackHole(try await breaker.run { index }) }
        }
    ),
    (
        "retry + closed circuit breaker (issue item 10)",
        { count in
            for index in 0..<count { blackHole(try await retry.run { try await breaker.run { index } }) }
        }
    ),
    (
        "Healing.run: fallback + retry + breaker",
        { count in
            for index in 0..<count { blackHole(try await healing.run("dependency") { index }) }
        }
    ),
    (
        "pipeline: timeout + retry + breaker, success (issue item 9: < 1 us)",
        { count in
            for index in 0..<count { blackHole(try await pipeline.run { index }) }
        }
    ),
    (
        "timeout alone, success",
        { count in
            for index in 0..<count { blackHole(try await timeout.run { index }) }
        }
    ),
    (
        "pipeline: retry + breaker, success",
        { count in
            for index in 0..<count { blackHole(try await pipelineWithoutTimeout.run { index }) }
        }
    ),
    (
        plainRequest,
        { count in
            for _ in 0..<count { blackHole(try await plainResponder.respond(to: request(), context: context)) }
        }
    ),
    (
        healedRequest,
        { count in
            for _ in 0..<count { blackHole(try await healedResponder.respond(to: request(), context: context)) }
        }
    ),
    (
        "rate limiter acquire (allowed)",
        { count in
            for _ in 0..<count { blackHole(limiter.acquire("user-7")) }
        }
    ),
    (
        "emit one event, events switched off (no-op sink)",
        { count in
            for index in 0..<count { quiet.emit(.retryAttempt, "retry") { $0.set("attempt", index) } }
        }
    ),
    // The caller's side of the socket emitter: the reporter builds the event (message, attrs, time) and the
    // emitter enqueues it. Unstarted emitters (no writer competing for the 2 cores), a fresh one per 10,000
    // events so the queue stays at its usual size: the normal path, no spill, no drop.
    (
        "emit one event through the socket emitter (caller side; item 9: < 500 ns)",
        { count in
            var configuration = SocketEmitterConfiguration(socketPath: socketPath)
            configuration.queueCapacity = 10_001
            var emitter = SocketEventEmitter(configuration: configuration)
            var reporter = EventReporter(sink: emitter, service: "bench", component: "db-pool")
            for index in 0..<count {
                if index % 10_000 == 0 {
                    emitter = SocketEventEmitter(configuration: configuration)
                    reporter = EventReporter(sink: emitter, service: "bench", component: "db-pool")
                }
                reporter.emit(.retryAttempt, "Retry attempt") {
                    $0.set("attempt", index)
                    $0.set("max_attempts", 3)
                }
            }
            blackHole(emitter)
        }
    ),
    (
        "encode one event as a wire line (writer thread side)",
        { count in
            let event = Event(
                service: "bench",
                kind: .retryAttempt,
                component: "db-pool",
                timestamp: 1_764_063_620_200,
                message: "Retry attempt",
                id: "abc-1",
                attributesJSON: #"{"attempt":2,"max_attempts":3}"#
            )
            for _ in 0..<count { blackHole(event.wireLine) }
        }
    ),
]

print("benchmark".padding(toLength: 72, withPad: " ", startingAt: 0), "    wall ns", "     CPU ns")
var results: [String: (wall: Double, cpu: Double)] = [:]
for (name, body) in benchmarks where filter.isEmpty || name.contains(filter) {
    let result = try await measure(iterations: iterations, body)
    results[name] = result
    print(
        name.padding(toLength: 72, withPad: " ", startingAt: 0),
        String(format: "%11.1f %11.1f", result.wall, result.cpu)
    )
}
// The middleware's overhead: the same request with and without it, measured back to back above.
if let plain = results[plainRequest], let healed = results[healedRequest] {
    print(
        "SelfHealingMiddleware overhead per request (difference of the two)".padding(
            toLength: 72,
            withPad: " ",
            startingAt: 0
        ),
        String(format: "%11.1f %11.1f", healed.wall - plain.wall, healed.cpu - plain.cpu)
    )
}
