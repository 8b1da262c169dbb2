import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SelfHealing
import SelfHealingHummingbird
import SelfHealingTesting
import Synchronization
import Testing

/// The statuses the flaky route answers with, in order (then 200).
final class Statuses: Sendable {
    private let queue: Mutex<[HTTPResponse.Status]>
    init(_ statuses: [HTTPResponse.Status] = []) { queue = Mutex(statuses) }
    func next() -> HTTPResponse.Status { queue.withLock { $0.isEmpty ? .ok : $0.removeFirst() } }
}

@Suite struct MiddlewareTests {
    /// A router whose `/api/flaky` answers with the statuses queued, through the middleware.
    static func app(
        _ routes: RouteHealing,
        statuses: Statuses,
        health: HealthRoute<ManualClock>? = nil
    ) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: SelfHealingMiddleware(routes))
        router.get("/api/flaky") { _, _ -> Response in
            Response(status: statuses.next())
        }
        router.get("/api/users/{id}") { _, _ -> Response in Response(status: .notFound) }
        health?.register(on: router)
        return Application(router: router)
    }

    @Test func responsesAreJudgedByTheOutcomeRuleAndAnOpenRouteSheds() async throws {
        let clock = ManualClock()
        let sink = RecordingEventSink()
        var defaults = RouteHealing.routeDefaults
        defaults.breaker = CircuitBreakerConfiguration(
            consecutiveFailureThreshold: 3,
            failureRateThreshold: nil,
            resetTimeout: .seconds(10)
        )
        let routes = RouteHealing(
            service: "portal",
            sink: sink,
            defaults: defaults,
            flags: FeatureFlags(),
            clock: clock
        )
        let statuses = Statuses([.internalServerError, .serviceUnavailable, .badGateway])
        try await Self.app(routes, statuses: statuses).test(.router) { client in
            // 404s are the client's business: never a failure of the route.
            for _ in 0..<5 {
                try await client.execute(uri: "/api/users/7", method: .get) { #expect($0.status == .notFound) }
            }
            for _ in 0..<3 {
                try await client.execute(uri: "/api/flaky", method: .get) { #expect($0.status.code >= 500) }
            }
            // Open: answered at once, without the handler.
            try await client.execute(uri: "/api/flaky", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "10")
            }
            clock.advance(by: .seconds(10))
            try await client.execute(uri: "/api/flaky", method: .get) { #expect($0.status == .ok) }
        }
        #expect(sink.kinds == ["breaker.opened", "breaker.rejected", "breaker.half_opened", "breaker.closed"])
        #expect(sink.events.allSatisfy { $0.component == "GET /api/flaky" })
        let users = try #require(routes.snapshots.first { $0.component == "GET /api/users/{id}" })
        guard case .breaker(let breaker)? = users.layers.last else {
            Issue.record("no breaker on the route")
            return
        }
        #expect(breaker.failures == 0 && breaker.calls == 0)  // a 404 is not counted at all
        #expect(breaker.state == .closed)
    }

    @Test func aClientOverItsRateGets429WithRetryAfter() async throws {
        let clock = ManualClock()
        let sink = RecordingEventSink()
        var defaults = RouteHealing.routeDefaults
        defaults.rateLimit = RateLimit(capacity: 2, per: .seconds(60))
        let routes = RouteHealing(
            service: "portal",
            sink: sink,
            defaults: defaults,
            flags: FeatureFlags(),
            clock: clock
        )
        try await Self.app(routes, statuses: Statuses()).test(.router) { client in
            let alice: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "10.0.0.1"]
            let bob: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "10.0.0.2"]
            for _ in 0..<2 {
                try await client.execute(uri: "/api/flaky", method: .get, headers: alice) { #expect($0.status == .ok) }
            }
            try await client.execute(uri: "/api/flaky", method: .get, headers: alice) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] == "30")
            }
            try await client.execute(uri: "/api/flaky", method: .get, headers: bob) { #expect($0.status == .ok) }
        }
        #expect(sink.kinds == ["ratelimit.throttled"])
    }

    @Test func theHealthRouteGivesTheQuickAndTheDetailedAnswer() async throws {
        let clock = ManualClock()
        let sink = RecordingEventSink()
        let monitor = HealthMonitor(reporter: EventReporter(sink: sink, service: "portal"), clock: clock)
        let databaseUp = Mutex(true)
        monitor.register("database") {
            clock.advance(by: .milliseconds(45))
            if databaseUp.withLock({ $0 }) { return .healthy }
            throw TransientError()
        }
        monitor.register("openai") { .degraded }
        let routes = RouteHealing(service: "portal", sink: sink, flags: FeatureFlags(), clock: clock)
        let health = HealthRoute(monitor: monitor, breakers: { routes.snapshots.compactMap(\.breaker) })
        try await Self.app(routes, statuses: Statuses(), health: health).test(.router) { client in
            try await client.execute(uri: "/api/health", method: .get) { response in
                #expect(response.status == .ok)
                let json = try Self.object(response.body)
                #expect(json["status"] as? String == "healthy")
                let checks = try #require(json["checks"] as? [String: [String: Any]])
                #expect(Array(checks.keys) == ["database"])
                #expect(checks["database"]?["status"] as? String == "up")
                #expect(checks["database"]?["responseTime"] as? Int == 45)
                #expect(json["uptime"] == nil)
            }
            try await client.execute(uri: "/api/health?detailed=true", method: .get) { response in
                #expect(response.status == .ok)
                let json = try Self.object(response.body)
                #expect(json["status"] as? String == "degraded")
                let checks = try #require(json["checks"] as? [String: [String: Any]])
                #expect(checks["openai"]?["status"] as? String == "degraded")
                #expect(json["uptime"] as? Int == 90)
                #expect((json["errors"] as? [Any])?.isEmpty == true)
            }
            databaseUp.withLock { $0 = false }
            try await client.execute(uri: "/api/health?detailed=true", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let json = try Self.object(response.body)
                #expect(json["status"] as? String == "unhealthy")
                #expect((json["checks"] as? [String: [String: Any]])?["database"]?["status"] as? String == "down")
                #expect((json["errors"] as? [[String: Any]])?.first?["check"] as? String == "database")
            }
        }
    }

    @Test func theClientKeyIsTheFirstForwardedAddressTrimmed() {
        func key(_ value: String?) -> String? {
            var head = HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: "/")
            if let value { head.headerFields[HTTPField.Name("X-Forwarded-For")!] = value }
            return RouteHealing.forwardedFor(Request(head: head, body: RequestBody(buffer: ByteBuffer())))
        }
        #expect(key("10.0.0.7") == "10.0.0.7")
        #expect(key(" \t10.0.0.7 , 10.0.0.8") == "10.0.0.7")
        #expect(key("2001:db8::1,10.0.0.8") == "2001:db8::1")
        #expect(key(" , 10.0.0.8") == nil)
        #expect(key("") == nil)
        #expect(key(nil) == nil)
    }

    static func object(_ body: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as? [String: Any])
    }
}

extension PipelineSnapshot {
    var breaker: CircuitBreakerSnapshot? {
        for layer in layers { if case .breaker(let snapshot) = layer { return snapshot } }
        return nil
    }
}

struct TransientError: Error, CustomStringConvertible {
    var description: String { "FATAL: sorry, too many clients already" }
}
