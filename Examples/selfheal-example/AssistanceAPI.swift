import Foundation
import SelfHealing
import Synchronization

/// The database behind the assistance API: a pool of 100 connections that a dashboard exhausts.
final class Database: Sendable {
    let connectionsInUse = Mutex(45)

    var exhausted: Bool { connectionsInUse.withLock { $0 } >= 98 }
}

/// The assistance endpoint as the settings page calls it: JSON when the database answers, the platform's HTML
/// error page when it does not (scenario analysis, issue #4, scenario B).
struct AssistanceEndpoint: Sendable {
    let database: Database
    let validator: ResponseValidator

    struct Requests: Decodable, Sendable {
        var requests: [String]
    }

    func fetch() throws -> [String] {
        let (status, contentType, body) =
            database.exhausted
            ? (
                500, "text/html",
                "<HTML><HEAD><TITLE>500</TITLE></HEAD><BODY>Too many database connections opened: "
                    + "FATAL: sorry, too many clients already</BODY></HTML>"
            )
            : (200, "application/json", #"{"requests":["Maria needs help with task 4512","Tom: login issue"]}"#)
        return try validator.decode(
            Requests.self,
            status: status,
            contentType: contentType,
            body: Data(body.utf8),
            endpoint: "/api/manager/assistance"
        ).requests
    }
}

/// Issue #1 and #4: a dashboard's 160 queries exhaust the connection pool at 09:40:20; the assistance API fails
/// with HTML 500 pages. The pool monitor warns at 85% and escalates at 92%; retry, circuit breaker and the cached
/// list keep the settings page working; the breaker probes and closes once the pool has recovered.
func assistanceStory(sink: any EventSink, service: String, flags: FeatureFlags) async throws {
    print("\n== Assistance API during a connection pool exhaustion ==")
    let clock = SimulatedClock()
    let database = Database()
    let pool = PoolMonitor(reporter: EventReporter(sink: sink, service: service, component: "db-pool"))
    var configuration = HealingConfiguration()
    configuration.flags = flags
    configuration.retry = RetryPolicy(maxAttempts: 3, initialDelay: .seconds(1), maxDelay: .seconds(8), jitter: .full)
    configuration.retry.seed = 2025
    configuration.breaker = CircuitBreakerConfiguration(
        consecutiveFailureThreshold: 2,
        failureRateThreshold: 0.5,
        resetTimeout: .seconds(3)
    )
    let healing = Healing(service: service, sink: sink, configuration: configuration, clock: clock)
    let endpoint = AssistanceEndpoint(
        database: database,
        validator: ResponseValidator(
            reporter: EventReporter(
                sink: sink,
                service: service,
                component: "/api/manager/assistance"
            )
        )
    )

    func load(_ moment: String) async {
        do {
            let result = try await healing.runWithDetails("/api/manager/assistance", cacheKey: "manager-1") {
                try endpoint.fetch()
            }
            let origin = result.isCached ? "cached, \(result.age.components.seconds) s old" : "fresh"
            print("\(clock.stamp) \(moment): settings page shows \(result.value.count) requests (\(origin))")
        } catch {
            print("\(clock.stamp) \(moment): settings page shows an error: \(error)")
        }
    }
    func reading(_ used: Int) {
        database.connectionsInUse.withLock { $0 = used }
        let level = pool.record(used: used, max: 100)
        print("\(clock.stamp) pool \(used)/100 (\(level))")
    }

    reading(45)
    await load("09:40:19 settings page")
    for used in [85, 92, 98] {
        clock.advance(by: .milliseconds(300))
        reading(used)
    }
    await load("09:40:21 settings page")
    for used in [88, 45] {
        clock.advance(by: .milliseconds(300))
        reading(used)
    }
    clock.advance(by: .seconds(3))
    await load("09:40:24 auto-retry")
}
