import GRDB
import SelfHealEvents
import Synchronization
import Testing

@testable import SelfHealStore

/// The projections stay exactly what a replay of the log gives: across batches, restarts, rollbacks and
/// writers without projections; `rebuild` and `verify` (SPEC section 4).
@Suite struct ProjectionMaintenanceTests {
    /// A projection that fails the transaction when told to, after the incident projection has applied.
    final class FailingProjection: Projection {
        let failNext = Mutex(false)
        func reset(_ db: Database) throws {}
        func apply(_ events: EventBatch, _ db: Database) throws -> [Int64] {
            if failNext.withLock({ $0 }) {
                failNext.withLock { $0 = false }
                throw StoreError("told to fail")
            }
            return []
        }
    }

    private func dayOfEvents() -> [IncomingEvent] {
        [
            incoming(.poolWarning, ts: day, id: "1"), incoming(.poolCritical, ts: day + 100),
            incoming(.poolRecovered, ts: day + 900), incoming(.retryAttempt, ts: day + 1_000, component: "openai"),
            incoming(.breakerOpened, ts: day + 2_000, component: "openai"),
            incoming(.timeoutPrevented, ts: day + 2_500),
            incoming(.retryExhausted, ts: day + 3_000, component: "openai"),
            incoming(.healthDegraded, ts: day + 4_000, component: "health", incident: "h-1"),
        ]
    }

    @Test func aRolledBackBatchLeavesNoTraceInTheProjections() throws {
        let failing = FailingProjection()
        let test = try TemporaryStore(projections: [IncidentProjection(), failing])
        _ = try test.store.append([incoming(.poolWarning, ts: day)])
        failing.failNext.withLock { $0 = true }
        #expect(throws: StoreError.self) {
            _ = try test.store.append([incoming(.poolRecovered, ts: day + 10), incoming(.retryAttempt, ts: day + 20)])
        }
        // The cache saw the rolled-back batch; the next batch must not build on it.
        _ = try test.store.append([incoming(.poolCritical, ts: day + 30)])
        let incident = try #require(try test.onlyIncident())
        #expect(incident.state == .open && incident.eventCount == 2 && incident.actions == [])
        #expect(try test.store.verify().isClean)
    }

    @Test func manySmallBatchesEqualOneReplay() throws {
        let test = try TemporaryStore()
        for event in dayOfEvents() { _ = try test.store.append([event]) }
        let incremental = try test.store.allIncidents()
        let report = try test.store.verify()
        #expect(report.isClean)
        #expect(report.events == 8 && report.incidents == 3)
        let rebuilt = try test.store.rebuild()
        #expect(rebuilt.events == 8)
        #expect(try test.store.allIncidents() == incremental)
    }

    @Test func aRestartedWriterContinuesFromTheDatabase() throws {
        let test = try TemporaryStore()
        _ = try test.store.append(Array(dayOfEvents().prefix(4)))
        let second = try test.reopen()
        _ = try second.append(Array(dayOfEvents().dropFirst(4)))
        #expect(try second.verify().isClean)
        #expect(try second.allIncidents().count == 3)
    }

    @Test func eventsAppendedWithoutProjectionsAreCaughtUp() throws {
        let test = try TemporaryStore(projections: [])
        _ = try test.store.append(dayOfEvents())
        #expect(try test.store.allIncidents().isEmpty)
        #expect(try test.store.projectionProgress() == (applied: 0, logEnd: 8))
        #expect(try !test.store.verify().isClean)
        // A writer with projections catches up when it opens...
        let writer = try test.reopen()
        #expect(try writer.allIncidents().count == 3)
        #expect(try writer.verify().isClean)
        // ...and when another writer without them appended in between.
        _ = try test.store.append([incoming(.healthRecovered, ts: day + 5_000, component: "health", incident: "h-1")])
        _ = try writer.append([incoming(.poolWarning, ts: day + 6_000)])
        #expect(try writer.verify().isClean)
        #expect(try writer.allIncidents().map(\.state) == [.resolved, .failed, .resolved, .open])
    }

    @Test func verifyReportsWhatDiffersAndRebuildRepairsIt() throws {
        let test = try TemporaryStore()
        _ = try test.store.append(dayOfEvents())
        let database = try DatabaseQueue(path: test.path)
        try database.write { db in
            try db.execute(sql: "UPDATE incidents SET state = 'resolved', resolved_at = 1 WHERE id = 2")
            try db.execute(sql: "UPDATE counters SET timeout_prevented = timeout_prevented + 5")
            try db.execute(sql: "DELETE FROM incidents WHERE id = 3")
        }
        let report = try test.store.verify()
        #expect(!report.isClean)
        #expect(report.logProblems.isEmpty)
        #expect(report.projectionDifferences.count == 3)
        #expect(report.projectionDifferences.contains { $0.hasPrefix("incident 2 differs: state resolved") })
        #expect(report.projectionDifferences.contains { $0.hasPrefix("incident 3 is missing") })
        #expect(
            report.projectionDifferences.contains {
                $0.hasPrefix("counters of hour 2025-11-25T00:00:00.000Z, service portal: events 8, prevented 6/0/0")
            }
        )
        _ = try test.store.rebuild()
        #expect(try test.store.verify().isClean)
    }

    @Test func verifyReportsARowThatDoesNotDecode() throws {
        let test = try TemporaryStore()
        _ = try test.store.append(dayOfEvents())
        let database = try DatabaseQueue(path: test.path)
        try database.write { db in
            // The log refuses updates: disable its trigger the way a corrupting tool would.
            try db.execute(sql: "DROP TRIGGER events_refuse_update")
            try db.execute(sql: "UPDATE events SET kind = 'pool.warnign' WHERE seq = 3")
        }
        let report = try test.store.verify()
        #expect(report.logProblems == ["event 3 does not decode: event 3 has unknown kind pool.warnign"])
        #expect(report.projectionDifferences.count == 1)
        #expect(!report.isClean)
    }

    @Test func anEmptyLogVerifiesClean() throws {
        let test = try TemporaryStore()
        let report = try test.store.verify()
        #expect(report.isClean && report.events == 0)
        #expect(try test.store.rebuild().events == 0)
    }
}
