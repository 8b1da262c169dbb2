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
/// A middleware that only calls the next one: what any middleware costs in Hummingbird's router.
struct PassThrough<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    { try await next(request, context) }
}

func responder(healed: Bool, passThrough: Bool = false) -> some HTTPResponder<BasicRequestContext> {
    let router = Router()
    if passThrough { router.add(middleware: PassThrough()) }
    if healed {
        let routes = RouteHealing(service: "bench", sink: NoopEventSink(), flags: FeatureFlags())
        // Every request comes from one client: a rate that never runs out, so that each request takes the normal
        // path (a token, a bulkhead slot, the breaker, the handler) and none is refused with a 429.
        routes.configure("GET /api/items/{id}") { $0.rateLimit = RateLimit(capacity: 1_000_000_000, per: .seconds(1)) }
        router.add(middleware: SelfHealingMiddleware(routes))
    }
    router.get("/api/items/{id}") { _, _ in Response(status: .ok) }
    return router.buildResponder()
}
let plainResponder = responder(healed: false)
let healedResponder = responder(healed: true)
let passThroughResponder = responder(healed: false, passThrough: true)
let context = BasicRequestContext(
    source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "bench"))
)
func request() -> Request {
    var head = HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: "/api/items/42")
    head.headerFields[HTTPField.Name("X-Forwarded-For")!] = "10.0.0.7"
    return Request(head: head, body: RequestBody(buffer: ByteBuffer()))
}

// The healed request takes the normal path: answered by the handler, not refused.
guard try await healedResponder.respond(to: request(), context: context).status == .ok else {
    fatalError("the middleware refused the benchmark's request")
}

/// `count` requests answered by `responder`, on the global concurrent executor, where a server's requests run: the
/// loop makes no executor hop per request (from the main actor, each `respond` would hop there and back).
@concurrent func serve(
    _ count: Int,
    _ responder: some HTTPResponder<BasicRequestContext>,
    _ context: BasicRequestContext
) async throws {
    for _ in 0..<count { blackHole(try await responder.respond(to: request(), context: context)) }
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
            try await serve(count, plainResponder, context)
        }
    ),
    (
        "Hummingbird router + a pass-through middleware (per request)",
        { count in
            try await serve(count, passThroughResponder, context)
        }
    ),
    (
        healedRequest,
        { count in
            try await serve(count, healedResponder, context)
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
for (name, body) in benchmarks where filter.isEmpty || name.contains(filter) {
    let result = try await measure(iterations: iterations, body)
    print(
        name.padding(toLength: 72, withPad: " ", startingAt: 0),
        String(format: "%11.1f %11.1f", result.wall, result.cpu)
    )
}
// The middleware's overhead: the same request without and with it, in 7 pairs of runs back to back (so that both
// halves of a pair see the same load), the median of the pairs' differences.
if filter.isEmpty || "SelfHealingMiddleware overhead".contains(filter) || filter == "overhead" {
    var walls: [Double] = []
    var cpus: [Double] = []
    for _ in 0..<7 {
        let plain = try await measure(runs: 1, iterations: iterations) { count in
            try await serve(count, plainResponder, context)
        }
        let healed = try await measure(runs: 1, iterations: iterations) { count in
            try await serve(count, healedResponder, context)
        }
        walls.append(healed.wall - plain.wall)
        cpus.append(healed.cpu - plain.cpu)
    }
    print(
        "SelfHealingMiddleware overhead per request (median of 7 paired runs)".padding(
            toLength: 72,
            withPad: " ",
            startingAt: 0
        ),
        String(format: "%11.1f %11.1f", walls.sorted()[3], cpus.sorted()[3])
    )
}
