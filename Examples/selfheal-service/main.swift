// A small Hummingbird service using the SelfHealing library end to end: every route through the middleware (rate
// limit, bulkhead, breaker per route, responses judged by the outcome rule), a dependency call through a
// pipeline (timeout per attempt, retry, breaker, fallback per user), the users' health route, and events sent
// to a running `selfheal serve` by the socket emitter, run as a service that drains on shutdown.
//
//   swift run selfheal serve &
//   swift run selfheal-service-example --socket .selfheal/ingest.sock --port 8080
//   curl localhost:8080/api/manager/assistance?user=7
//   curl -X POST 'localhost:8080/admin/dependency?state=down'     # the dependency starts failing
//   curl 'localhost:8080/api/health?detailed=true'
import Foundation
import HTTPTypes
import Hummingbird
import SelfHealing
import SelfHealingHummingbird
import Synchronization

/// The command line: `--socket PATH`, `--port N` (0 for any; the port is printed), `--reset-ms N`.
struct Options {
    var socket = ".selfheal/ingest.sock"
    var spill: String?
    var port = 8080
    var resetMilliseconds: Int64 = 5_000

    init(_ arguments: [String]) throws {
        var rest = arguments.dropFirst()[...]
        while let name = rest.popFirst() {
            guard let value = rest.popFirst() else { throw ExampleError("\(name) needs a value") }
            switch name {
            case "--socket": socket = value
            case "--spill": spill = value
            case "--port": port = try Self.number(name, value)
            case "--reset-ms": resetMilliseconds = Int64(try Self.number(name, value))
            default: throw ExampleError("unknown option \(name) (use --socket, --spill, --port, --reset-ms)")
            }
        }
    }

    static func number(_ name: String, _ value: String) throws -> Int {
        guard let number = Int(value), number >= 0 else { throw ExampleError("\(name) wants a number, got \(value)") }
        return number
    }
}

struct ExampleError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The assistance API's backend: up or down, as `POST /admin/dependency?state=` says.
final class Dependency: Sendable {
    private let up = Atomic<Bool>(true)
    private let calls = Atomic<Int>(0)

    func set(up value: Bool) { up.store(value, ordering: .relaxed) }

    func assistanceRequests(user: String) async throws -> String {
        let number = calls.wrappingAdd(1, ordering: .relaxed).newValue
        guard up.load(ordering: .relaxed) else { throw HTTPError(statusCode: 503, endpoint: "GET /assistance") }
        return #"{"user":"\#(user)","requests":3,"call":\#(number)}"#
    }
}

/// Builds the service and runs it until SIGTERM or SIGINT.
func runService(_ options: Options) async throws {
    let emitter = EventEmitter(
        configuration: EmitterConfiguration(socketPath: options.socket, spillPath: options.spill)
    )
    var configuration = HealingConfiguration()
    configuration.retry = RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(20), maxDelay: .milliseconds(100))
    configuration.breaker = CircuitBreakerConfiguration(
        consecutiveFailureThreshold: 3,
        failureRateThreshold: nil,
        resetTimeout: .milliseconds(options.resetMilliseconds)
    )
    configuration.attemptTimeout = .seconds(2)
    let healing = Healing(service: "example", sink: emitter, configuration: configuration)
    let routes = RouteHealing(service: "example", sink: emitter)
    let dependency = Dependency()

    let monitor = healing.healthMonitor()
    monitor.register("database") { .healthy }
    monitor.register("assistance-api") {
        switch healing.breaker(for: "assistance-api")?.state {
        case .open?: throw ExampleError("circuit open")
        case .halfOpen?: .degraded
        default: .healthy
        }
    }

    let router = Router()
    router.add(middleware: SelfHealingMiddleware(routes))
    router.get("/api/manager/assistance") { request, _ -> Response in
        let user = request.uri.queryParameters["user"].map(String.init) ?? "anonymous"
        let result = try await healing.runWithDetails("assistance-api", cacheKey: "user-\(user)") {
            try await dependency.assistanceRequests(user: user)
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[HTTPField.Name("X-Cache")!] = result.isCached ? "hit" : "miss"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: result.value)))
    }
    router.post("/admin/dependency") { request, _ -> Response in
        dependency.set(up: request.uri.queryParameters["state"] != "down")
        return Response(status: .noContent)
    }
    HealthRoute(monitor: monitor, breakers: { (healing.snapshots + routes.snapshots).compactMap(\.breakerState) })
        .register(on: router)
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: options.port)),
        // The emitter drains after the server stops taking requests (services stop in reverse order).
        services: [emitter],
        onServerRunning: { channel in
            // Written in one call, unbuffered: the test that runs this example reads the port from it.
            FileHandle.standardOutput.write(Data("listening on 127.0.0.1:\(channel.localAddress?.port ?? 0)\n".utf8))
        }
    )
    try await app.runService()
}

extension PipelineSnapshot {
    var breakerState: CircuitBreakerSnapshot? {
        for layer in layers { if case .breaker(let snapshot) = layer { return snapshot } }
        return nil
    }
}

do {
    try await runService(try Options(CommandLine.arguments))
} catch let error as ExampleError {
    FileHandle.standardError.write(Data("selfheal-service-example: \(error)\n".utf8))
    exit(64)
}
