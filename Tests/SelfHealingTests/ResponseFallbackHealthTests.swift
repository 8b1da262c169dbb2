import Foundation
import SelfHealEvents
import SelfHealingTesting
import Testing

@testable import SelfHealing

struct AssistanceRequests: Decodable, Equatable, Sendable {
    var requests: [String]
}

@Suite struct ResponseValidatorTests {
    @Test func htmlErrorPageBecomesTypedError() throws {
        let (reporter, sink) = recordingReporter("/api/manager/assistance")
        let validator = ResponseValidator(reporter: reporter)
        let html = Data("<HTML><HEAD><TITLE>Internal Server Error</TITLE></HEAD>\n<BODY>Function timed out</BODY>".utf8)
        do {
            _ = try validator.decode(
                AssistanceRequests.self,
                status: 500,
                contentType: "text/html",
                body: html,
                endpoint: "/api/manager/assistance"
            )
            Issue.record("an HTML page decoded")
        } catch {
            #expect(error.statusCode == 500)
            #expect(error.reason == .notJSON)
            #expect(error.excerpt.hasPrefix("<HTML><HEAD><TITLE>Internal Server Error"))
            #expect(error.excerpt.count <= 83)
            #expect(RetryPolicy.defaultIsRetryable(error))
        }
        let event = try #require(sink.events.first)
        #expect(event.kind == .responseInvalid)
        #expect(attributes(event)["status"] as? Int == 500)
        #expect(attributes(event)["content_type"] as? String == "text/html")
    }

    @Test func decodesGoodJSONAndNamesBadShapes() throws {
        let (reporter, sink) = recordingReporter()
        let validator = ResponseValidator(reporter: reporter)
        let good = Data(#"{"requests":["a","b"]}"#.utf8)
        let value = try validator.decode(
            AssistanceRequests.self,
            status: 200,
            contentType: "application/json",
            body: good
        )
        #expect(value == AssistanceRequests(requests: ["a", "b"]))
        #expect(sink.events.isEmpty)
        #expect(throws: InvalidResponseError.self) {
            try validator.decode(
                AssistanceRequests.self,
                status: 200,
                contentType: "application/json",
                body: Data(#"{"items":[]}"#.utf8)
            )
        }
        #expect(throws: InvalidResponseError.self) {
            try validator.decode(
                AssistanceRequests.self,
                status: 404,
                contentType: "application/json",
                body: Data(#"{"error":"not found"}"#.utf8)
            )
        }
        #expect(throws: InvalidResponseError.self) {
            try validator.decode(AssistanceRequests.self, status: 200, contentType: nil, body: Data())
        }
        let reasons = sink.events.map { attributes($0)["reason"] as? String }
        #expect(reasons == ["undecodable", "error_status", "not_json"])
    }
}

@Suite struct FallbackTests {
    @Test func servesTheLastGoodValueWhileYoungEnough() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter("assistance-api")
        let fallback = Fallback<String, ManualClock>(maxAge: .seconds(60), reporter: reporter, clock: clock)
        let fresh = try await fallback.run(key: "settings") { "fresh" }
        #expect(!fresh.isCached)
        clock.advance(by: .seconds(20))
        let served = try await fallback.run(key: "settings") { () async throws -> String in throw TransientError() }
        #expect(served.value == "fresh")
        #expect(served.isCached)
        #expect(served.age == .seconds(20))
        #expect(sink.kinds == ["fallback.served"])
        #expect(attributes(sink.events[0])["cache_age_ms"] as? Int == 20_000)
        clock.advance(by: .seconds(41))
        await #expect(throws: TransientError.self) {
            try await fallback.run(key: "settings") { () async throws -> String in throw TransientError() }
        }
    }

    @Test func keysAreSeparateAndCancellationIsNotServed() async throws {
        let fallback = Fallback<Int, ManualClock>(reporter: recordingReporter().0, clock: ManualClock())
        _ = try await fallback.run(key: "a") { 1 }
        await #expect(throws: TransientError.self) {
            try await fallback.run(key: "b") { () async throws -> Int in throw TransientError() }
        }
        await #expect(throws: CancellationError.self) {
            try await fallback.run(key: "a") { () async throws -> Int in throw CancellationError() }
        }
    }

    @Test func disabledRethrows() async throws {
        let fallback = Fallback<Int, ManualClock>(
            maxAge: nil,
            reporter: recordingReporter().0,
            isEnabled: false,
            clock: ManualClock()
        )
        _ = try await fallback.run(key: "settings") { 1 }
        await #expect(throws: TransientError.self) {
            try await fallback.run(key: "settings") { () async throws -> Int in throw TransientError() }
        }
    }
}

@Suite struct HealthMonitorTests {
    @Test func reportsChangesOnly() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        var configuration = HealthMonitorConfiguration()
        configuration.recentErrorLimit = 2
        let monitor = HealthMonitor(configuration: configuration, reporter: reporter, clock: clock)
        let database = Box<HealthStatus?>(.healthy)  // nil: throws
        let latency = Box<Duration>(.milliseconds(5))
        monitor.register("database") {
            clock.advance(by: latency.value)
            guard let status = database.value else { throw TransientError() }
            return status
        }
        monitor.register("openai") { .healthy }

        #expect(await monitor.checkAll().status == .healthy)
        #expect(sink.events.isEmpty)

        database.withLock { $0 = nil }
        let failing = await monitor.checkAll()
        #expect(failing.status == .unhealthy)
        #expect(failing.checks.map(\.status) == [.unhealthy, .healthy])
        await monitor.checkAll()
        await monitor.checkAll()
        #expect(sink.kinds == ["health.unhealthy"])
        #expect(sink.events[0].component == "database")
        #expect(attributes(sink.events[0])["check"] as? String == "database")
        #expect(monitor.lastReport.recentErrors.count == 2)

        database.withLock { $0 = .healthy }
        latency.withLock { $0 = .seconds(2) }
        #expect(await monitor.checkAll().status == .degraded)
        #expect(attributes(sink.events[1])["response_ms"] as? Int == 2_000)

        latency.withLock { $0 = .milliseconds(5) }
        #expect(await monitor.checkAll().status == .healthy)
        #expect(sink.kinds == ["health.unhealthy", "health.degraded", "health.recovered"])
        #expect(sink.events.allSatisfy { $0.component == "database" })
    }

    @Test func runsRoundsAtTheIntervalUntilCancelled() async throws {
        let clock = ManualClock()
        var configuration = HealthMonitorConfiguration()
        configuration.checkTimeout = nil  // checks then run in the monitor's own task
        let monitor = HealthMonitor(configuration: configuration, reporter: recordingReporter().0, clock: clock)
        let rounds = Box(0)
        monitor.register("database") {
            let round = rounds.withLock { rounds in
                rounds += 1
                return rounds
            }
            if round == 3 { withUnsafeCurrentTask { $0?.cancel() } }
            return .healthy
        }
        // The check cancels the task it runs in: the monitor's own task, not the test's.
        let running = Task { try await monitor.run(every: .seconds(15)) }
        await #expect(throws: CancellationError.self) { try await running.value }
        #expect(rounds.value == 3)
        #expect(clock.sleeps == [.seconds(15), .seconds(15)])
    }

    @Test func aHungCheckTimesOutAndTheRoundGoesOn() async throws {
        let clock = ManualClock()
        var configuration = HealthMonitorConfiguration()
        configuration.checkTimeout = .seconds(5)
        let (reporter, sink) = recordingReporter()
        let monitor = HealthMonitor(configuration: configuration, reporter: reporter, clock: clock)
        // The check sleeps 60 s on the monitor's clock: its 5 s deadline fires first and the check is cancelled.
        monitor.register("search") {
            try await clock.sleep(for: .seconds(60))
            return .healthy
        }
        monitor.register("database") { .healthy }
        let report = await monitor.checkAll()
        #expect(report.checks.map(\.status) == [.unhealthy, .healthy])
        #expect(report.checks[0].error?.contains("did not answer within 5000 ms") == true)
        #expect(sink.kinds == ["health.unhealthy"])
    }

    @Test func disabledRunsNothing() async {
        var configuration = HealthMonitorConfiguration()
        configuration.isEnabled = false
        let monitor = HealthMonitor(configuration: configuration, reporter: recordingReporter().0, clock: ManualClock())
        monitor.register("database") { throw TransientError() }
        #expect(await monitor.checkAll().status == .healthy)
    }
}
