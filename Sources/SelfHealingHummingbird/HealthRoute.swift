import Foundation
import HTTPTypes
import Hummingbird
import SelfHealing

/// The users' health route: `GET /api/health` runs the quick checks (the database, by default the first
/// registered check) and `GET /api/health?detailed=true` runs them all and adds the uptime, the recent errors and
/// every route's and dependency's circuit breaker. `200` while healthy or degraded (still operational), `503` when
/// unhealthy.
///
/// ```json
/// {"status":"healthy","timestamp":"2025-11-25T12:00:00.000Z",
///  "checks":{"database":{"status":"up","responseTime":45}},"uptime":3600000,"errors":[]}
/// ```
/// A check's status is `up` (healthy), `degraded` or `down` (unhealthy); `responseTime` is in milliseconds.
public struct HealthRoute<C: Clock>: Sendable where C.Duration == Duration {
    /// The checks.
    public let monitor: HealthMonitor<C>
    /// The checks the quick answer runs; `nil` for the first registered one.
    public let quickChecks: Set<String>?
    /// The breakers shown in the detailed answer.
    public let breakers: @Sendable () -> [CircuitBreakerSnapshot]
    private let started: C.Instant

    /// Creates the route's handler.
    /// - Parameters:
    ///   - monitor: the checks.
    ///   - quickChecks: the checks of the quick answer; `nil` for the first registered one.
    ///   - breakers: the breakers to show in the detailed answer (e.g. from ``RouteHealing/snapshots`` and
    ///     `Healing.snapshots`).
    public init(
        monitor: HealthMonitor<C>,
        quickChecks: Set<String>? = nil,
        breakers: @escaping @Sendable () -> [CircuitBreakerSnapshot] = { [] }
    ) {
        self.monitor = monitor
        self.quickChecks = quickChecks
        self.breakers = breakers
        started = monitor.clock.now
    }

    /// Adds `GET path` (default `/api/health`) to the router.
    @discardableResult
    public func register<Context: RequestContext>(on router: Router<Context>, path: RouterPath = "/api/health") -> Self
    {
        router.get(path) { request, _ in await self.respond(detailed: request.uri.queryParameters["detailed"] == "true")
        }
        return self
    }

    /// The answer: quick or detailed.
    public func respond(detailed: Bool) async -> Response {
        let report = await monitor.checkAll(only: detailed ? nil : quickChecks ?? monitor.firstCheckName.map { [$0] })
        var checks = JSONText()
        for check in report.checks {
            var object = JSONText()
            object.string("status", Self.word(check.status))
            object.number("responseTime", Self.milliseconds(check.responseTime))
            if let error = check.error { object.string("error", error) }
            checks.raw(check.name, object.finish())
        }
        var json = JSONText()
        json.string("status", report.status.description)
        json.string("timestamp", Timestamp.formatRFC3339(monitor.reporter.nowMilliseconds))
        json.raw("checks", checks.finish())
        if detailed {
            json.number("uptime", Self.milliseconds(started.duration(to: monitor.clock.now)))
            json.raw(
                "errors",
                JSONText.array(
                    report.recentErrors.map { error in
                        var object = JSONText()
                        object.string("check", error.check)
                        object.string("error", error.error)
                        object.string("timestamp", Timestamp.formatRFC3339(error.timestamp))
                        return object.finish()
                    }
                )
            )
            var breakers = JSONText()
            for breaker in self.breakers() {
                var object = JSONText()
                object.string("state", breaker.state.rawValue)
                object.number("failures", breaker.failures)
                object.number("calls", breaker.calls)
                object.number("rejected", breaker.rejectedCalls)
                breakers.raw(breaker.component, object.finish())
            }
            json.raw("breakers", breakers.finish())
        }
        return Response(
            status: report.status == .unhealthy ? .serviceUnavailable : .ok,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: json.finish()))
        )
    }

    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds * 1_000 + attoseconds / 1_000_000_000_000_000)
    }

    static func word(_ status: HealthStatus) -> String {
        switch status {
        case .healthy: "up"
        case .degraded: "degraded"
        case .unhealthy: "down"
        }
    }
}
