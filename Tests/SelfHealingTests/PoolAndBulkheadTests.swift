import SelfHealEvents
import Testing

@testable import SelfHealing

@Suite struct PoolMonitorTests {
    @Test func reportsLevelChangesOnly() {
        let (reporter, sink) = recordingReporter("db-pool")
        let monitor = PoolMonitor(reporter: reporter)
        let readings = [40, 70, 85, 86, 90, 92, 98, 88, 86, 84, 50, 92, 10]
        let levels = readings.map { monitor.record(used: $0, max: 100) }
        #expect(
            levels == [
                .normal, .normal, .warning, .warning, .warning, .critical, .critical, .warning, .warning,
                .normal, .normal, .critical, .normal,
            ]
        )
        #expect(sink.kinds == ["pool.warning", "pool.critical", "pool.recovered", "pool.critical", "pool.recovered"])
        #expect(attributes(sink.events[1])["used"] as? Int == 92)
        #expect(attributes(sink.events[1])["max"] as? Int == 100)
        #expect(sink.events[1].message == "CRITICAL: db-pool at 92% (92/100)")
        #expect(attributes(sink.events[2])["used"] as? Int == 84)
    }

    @Test func thresholdsAreConfigurable() {
        let (reporter, sink) = recordingReporter("db-pool")
        let monitor = PoolMonitor(
            thresholds: PoolThresholds(warning: 0.5, critical: 0.7, recovery: 0.3),
            reporter: reporter
        )
        for used in [49, 50, 71, 40, 29] { monitor.record(used: used, max: 100) }
        #expect(sink.kinds == ["pool.warning", "pool.critical", "pool.recovered"])
        #expect(attributes(sink.events[2])["used"] as? Int == 29)
    }
}

/// Holds operations inside a bulkhead until released.
final class Gate: Sendable {
    private let waiters = Box<[CheckedContinuation<Void, Never>]>([])
    private let opened = Box(false)

    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = opened.withLock { opened in opened }
            if resumeNow { continuation.resume() } else { waiters.withLock { $0.append(continuation) } }
        }
    }

    func open() {
        opened.withLock { $0 = true }
        for continuation in waiters.withLock({ waiters in
            defer { waiters.removeAll() }
            return waiters
        }) { continuation.resume() }
    }
}

/// Yields until `condition` holds: waits for other tasks to reach a point, without sleeping.
func eventually(_ condition: () -> Bool) async {
    for _ in 0..<100_000 where !condition() { await Task.yield() }
}

@Suite struct BulkheadTests {
    @Test func limitsConcurrencyAndQueues() async throws {
        let (reporter, sink) = recordingReporter("db-pool")
        let bulkhead = Bulkhead(
            configuration: BulkheadConfiguration(maxConcurrent: 2, maxQueue: 1),
            reporter: reporter
        )
        let gate = Gate()
        async let first: Int = bulkhead.run {
            await gate.wait()
            return 1
        }
        async let second: Int = bulkhead.run {
            await gate.wait()
            return 2
        }
        await eventually { bulkhead.inFlight == 2 }
        async let third: Int = bulkhead.run { 3 }
        await eventually { bulkhead.queued == 1 }
        await #expect(throws: BulkheadFullError.self) { try await bulkhead.run { 4 } }
        #expect(bulkhead.inFlight == 2)
        gate.open()
        let results = try await [first, second, third]
        #expect(results == [1, 2, 3])
        #expect(bulkhead.inFlight == 0)
        #expect(sink.kinds == ["pool.critical", "bulkhead.rejected", "pool.recovered"])
        let rejected = attributes(sink.events[1])
        #expect(rejected["max"] as? Int == 2)
        #expect(rejected["in_flight"] as? Int == 2)
        #expect(rejected["reason"] as? String == "queue_full")
    }

    @Test func shedsNonCriticalWorkAtCriticalLoad() async throws {
        let (reporter, sink) = recordingReporter("db-pool")
        let bulkhead = Bulkhead(
            configuration: BulkheadConfiguration(maxConcurrent: 10, maxQueue: 5),
            reporter: reporter
        )
        let gate = Gate()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<9 { group.addTask { try await bulkhead.run { await gate.wait() } } }
            await eventually { bulkhead.inFlight == 9 }
            #expect(bulkhead.level == .warning)  // 90%
            #expect(try await bulkhead.run(priority: .nonCritical) { 1 } == 1)  // 100% while it runs
            group.addTask { try await bulkhead.run { await gate.wait() } }
            await eventually { bulkhead.inFlight == 10 }
            #expect(bulkhead.level == .critical)
            await #expect(throws: BulkheadFullError.self) { try await bulkhead.run(priority: .nonCritical) { 1 } }
            gate.open()
            try await group.waitForAll()
        }
        #expect(sink.kinds.contains("bulkhead.rejected"))
        let shed = sink.events(of: .bulkheadRejected).map { attributes($0)["reason"] as? String }
        #expect(shed == ["shed"])
        #expect(sink.kinds.last == "pool.recovered")
    }

    @Test func criticalCallTakesTheQueuePlaceOfNonCriticalOne() async throws {
        var configuration = BulkheadConfiguration(maxConcurrent: 1, maxQueue: 1)
        configuration.shedsNonCriticalAtCriticalLoad = false
        let bulkhead = Bulkhead(configuration: configuration, reporter: recordingReporter().0)
        let gate = Gate()
        async let holder: Void = bulkhead.run { await gate.wait() }
        await eventually { bulkhead.inFlight == 1 }
        let analytics = Task { try await bulkhead.run(priority: .nonCritical) { "report" } }
        await eventually { bulkhead.queued == 1 }
        async let auth: String = bulkhead.run(priority: .critical) { "auth" }
        await #expect(throws: BulkheadFullError.self) { try await analytics.value }
        gate.open()
        try await holder
        #expect(try await auth == "auth")
    }

    @Test func cancelledWaiterLeavesTheQueue() async throws {
        let bulkhead = Bulkhead(
            configuration: BulkheadConfiguration(maxConcurrent: 1, maxQueue: 5),
            reporter: recordingReporter().0
        )
        let gate = Gate()
        async let holder: Void = bulkhead.run { await gate.wait() }
        await eventually { bulkhead.inFlight == 1 }
        let waiter = Task { try await bulkhead.run { 1 } }
        await eventually { bulkhead.queued == 1 }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(bulkhead.queued == 0)
        gate.open()
        try await holder
        #expect(bulkhead.inFlight == 0)
    }

    @Test func disabledBulkheadJustRuns() async throws {
        var configuration = BulkheadConfiguration(maxConcurrent: 1, maxQueue: 0)
        configuration.isEnabled = false
        let bulkhead = Bulkhead(configuration: configuration, reporter: recordingReporter().0)
        let gate = Gate()
        async let holder: Void = bulkhead.run { await gate.wait() }
        #expect(try await bulkhead.run { 2 } == 2)
        gate.open()
        try await holder
    }
}
