import Foundation
import GRDB
import SelfHealEvents
import Testing

@testable import SelfHealStore

/// The quiet incidents of SPEC section 5: one test per rule and edge, the store's quiet period, and the bounded
/// working set that must never change an answer.
@Suite struct QuietIncidentTests {
    let quiet = QuietPeriod.defaultMilliseconds

    @Test func anEventExactlyAQuietPeriodAfterTheLastEndsTheIncident() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.poolWarning, ts: day), incoming(.poolWarning, ts: day + 60_000))
        try test.append(incoming(.poolWarning, ts: day + 60_000 + quiet))
        let all = try test.store.allIncidents(asOf: day + 60_000 + quiet)
        #expect(all.count == 2)
        #expect(all[0].state == .expired)
        #expect(all[0].lastEventAt == day + 60_000)
        #expect(all[0].endedAt == day + 60_000 + quiet)
        #expect(all[0].eventCount == 2)
        #expect(all[1].state == .open && all[1].openedAt == day + 60_000 + quiet && all[1].endedAt == nil)
    }

    @Test func anEventJustInsideTheQuietPeriodJoins() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.poolWarning, ts: day), incoming(.retryAttempt, ts: day + quiet - 1))
        let incident = try #require(try test.onlyIncident(asOf: day + quiet))
        #expect(incident.state == .open)
        #expect(incident.eventCount == 2)
        #expect(incident.lastEventAt == day + quiet - 1)
        #expect(incident.endedAt == nil)
    }

    @Test func aLateEventJoinsWithoutMovingTheLastEventBack() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.poolWarning, ts: day + 2 * hourMs))
        try test.append(incoming(.poolCritical, ts: day + hourMs))
        let incident = try #require(try test.onlyIncident(asOf: day + 2 * hourMs))
        #expect(incident.eventCount == 2)
        #expect(incident.peakLevel == .critical)
        #expect(incident.openedAt == day + 2 * hourMs)
        #expect(incident.lastEventAt == day + 2 * hourMs)
        // Quiet counts from the greatest ts, not from the late one.
        #expect(try test.onlyIncident(asOf: day + hourMs + quiet)?.state == .open)
        #expect(try test.onlyIncident(asOf: day + 2 * hourMs + quiet)?.state == .expired)
    }

    @Test func aFailedIncidentGoingQuietStaysFailed() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.retryAttempt, ts: day), incoming(.retryExhausted, ts: day + 5_000))
        try test.append(incoming(.retryAttempt, ts: day + 5_000 + quiet))
        let all = try test.store.allIncidents(asOf: day + 5_000 + quiet)
        #expect(all.map(\.state) == [.failed, .open])
        #expect(all[0].failedAt == day + 5_000)
        #expect(all[0].endedAt == day + 5_000 + quiet)
        #expect(all[0].resolvedAt == nil && all[0].recoveryMs == nil)
        // Before the quiet period passed, the read shows it active: failed, not ended.
        let earlier = try test.store.allIncidents(asOf: day + 6_000)
        #expect(earlier[0].state == .failed && earlier[0].endedAt == nil)
    }

    @Test func aReadBeforeALaterEventEndedAnIncidentShowsItActive() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.errorDetected, ts: day))
        try test.append(incoming(.errorDetected, ts: day + 10 * hourMs))
        let asOfEarly = try test.store.allIncidents(asOf: day + hourMs)
        #expect(asOfEarly.map(\.state) == [.open, .open])
        #expect(asOfEarly[0].endedAt == nil)
        let asOfLate = try test.store.allIncidents(asOf: day + 10 * hourMs)
        #expect(asOfLate.map(\.state) == [.expired, .open])
        #expect(asOfLate[0].endedAt == day + quiet)
        // The same through `incidents` and `stats`.
        let early = try test.store.incidents(
            IncidentFilter(since: day, until: day + 24 * hourMs, asOf: day + hourMs, state: .open)
        )
        #expect(early.map(\.id) == [1, 2])
        let stats = try test.store.stats(since: day, until: day + 24 * hourMs, asOf: day + hourMs)
        #expect(stats.open == 2 && stats.expired == 0)
        let later = try test.store.stats(since: day, until: day + 24 * hourMs, asOf: day + 24 * hourMs)
        #expect(later.open == 0 && later.expired == 2)
    }

    @Test func aReadEndsAQuietIncidentThatNoEventEnded() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.healthDegraded, ts: day))
        #expect(try test.onlyIncident(asOf: day + quiet - 1)?.state == .open)
        let ended = try #require(try test.onlyIncident(asOf: day + quiet))
        #expect(ended.state == .expired && ended.endedAt == day + quiet)
        let json = ended.json
        #expect(json.contains(#""state":"expired""#))
        #expect(json.contains(#""last_event_at":"2025-11-25T00:00:00.000Z""#))
        #expect(json.contains(#""ended_at":"2025-11-25T04:00:00.000Z""#))
    }

    @Test func keysByIncidentAndByComponentHaveTheirOwnQuiet() throws {
        let test = try TemporaryStore()
        try test.append(
            incoming(.errorDetected, ts: day, component: "checkout"),
            incoming(.errorDetected, ts: day + 2 * hourMs, component: "other", incident: "checkout")
        )
        // Quiet since day on the component's key, since day + 2 h on the incident's key.
        try test.append(
            incoming(.errorDetected, ts: day + quiet + 1, component: "checkout"),
            incoming(.errorDetected, ts: day + quiet + 1, component: "third", incident: "checkout")
        )
        let all = try test.store.allIncidents(asOf: day + quiet + 1)
        #expect(all.count == 3)
        #expect(all[0].incident == nil && all[0].state == .expired)
        #expect(all[1].incident == "checkout" && all[1].state == .open && all[1].eventCount == 2)
        #expect(all[2].incident == nil && all[2].state == .open)
    }

    @Test func preventAndInfoEventsEndNoIncident() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.poolWarning, ts: day))
        try test.append(
            incoming(.timeoutPrevented, ts: day + 2 * quiet),
            incoming(.batchCompleted, ts: day + 2 * quiet)
        )
        // The read says it went quiet; the store still holds it active until an incident-driving event comes.
        #expect(try test.onlyIncident(asOf: day + 2 * quiet)?.state == .expired)
        #expect(try test.store.allIncidents(asOf: 0).map(\.endedAt) == [nil])
        try test.append(incoming(.poolWarning, ts: day + 2 * quiet + 1))
        #expect(try test.store.allIncidents(asOf: 0).count == 2)
    }

    @Test func aRecoverEventAfterTheQuietPeriodFindsNothing() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.poolCritical, ts: day))
        try test.append(incoming(.poolRecovered, ts: day + quiet))
        let incident = try #require(try test.onlyIncident(asOf: day + quiet))
        #expect(incident.state == .expired)
        #expect(incident.resolvedAt == nil && incident.eventCount == 1)
    }

    @Test func expiredIncidentsCountInTheFiguresButNotInTheSuccessRate() throws {
        let test = try TemporaryStore()
        try test.append(
            incoming(.poolWarning, ts: day, component: "a"),
            incoming(.poolRecovered, ts: day + 1_000, component: "a"),
            incoming(.errorDetected, ts: day, component: "b"),
            incoming(.retryExhausted, ts: day, component: "c"),
            incoming(.timeoutPrevented, ts: day, component: "d")
        )
        let stats = try test.store.stats(since: day, until: day + hourMs, asOf: day + quiet)
        #expect(stats.resolved == 1 && stats.failed == 1 && stats.open == 0 && stats.expired == 1)
        #expect(stats.incidents == 3 && stats.actions == 4)
        #expect(stats.successRate == 2.0 / 3.0)
        #expect(stats.json.contains(#""incidents":{"total":3,"resolved":1,"failed":1,"open":0,"expired":1}"#))
    }

    @Test func anExpiredIncidentOverlapsUntilItEnded() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.errorDetected, ts: day))
        let asOf = day + 24 * hourMs
        func overlaps(_ since: Int64) throws -> Bool {
            try !test.store.incidents(IncidentFilter(since: since, until: since + hourMs, asOf: asOf)).isEmpty
        }
        #expect(try overlaps(day + quiet - hourMs))
        #expect(try overlaps(day + quiet))
        #expect(try !overlaps(day + quiet + 1))
        // As of a time before it went quiet, it is active and overlaps any later range.
        #expect(try !test.store.incidents(IncidentFilter(since: day + 10 * hourMs, until: asOf, asOf: day)).isEmpty)
    }

    @Test func theQuietPeriodBelongsToTheStore() throws {
        let test = try TemporaryStore(quietPeriod: 2 * hourMs)
        #expect(try test.store.quietPeriod() == 2 * hourMs)
        try test.append(incoming(.errorDetected, ts: day), incoming(.errorDetected, ts: day + 3 * hourMs))
        #expect(try test.store.allIncidents(asOf: 0).count == 2)
        // Reopened without a value: the store's own. With another: an error naming both.
        #expect(try test.reopen().quietPeriod() == 2 * hourMs)
        let error = #expect(throws: StoreError.self) {
            _ = try EventStore(StoreConfiguration(path: test.path, quietPeriod: 4 * hourMs))
        }
        #expect(error?.message.contains("quiet period is 2h, not 4h") == true)
        // A rebuild changes it by replaying the log.
        _ = try test.store.rebuild(quietPeriod: 4 * hourMs)
        #expect(try test.store.quietPeriod() == 4 * hourMs)
        #expect(try test.store.allIncidents(asOf: 0).count == 1)
        #expect(try test.store.verify().isClean)
        #expect(throws: StoreError.self) { _ = try test.store.rebuild(quietPeriod: 30_000) }
        #expect(throws: StoreError.self) { _ = try TemporaryStore(quietPeriod: 31 * 24 * hourMs) }
    }

    @Test func aCommitTellsWhichIncidentsItChanged() throws {
        let test = try TemporaryStore()
        #expect(try test.append(incoming(.poolWarning, ts: day)).changedIncidents == [1])
        #expect(try test.append(incoming(.timeoutPrevented, ts: day + 1)).changedIncidents == [])
        let both = try test.append(
            incoming(.poolRecovered, ts: day + 2),
            incoming(.errorDetected, ts: day + 3, component: "other")
        )
        #expect(both.changedIncidents == [1, 2])
    }

    /// Far more active incidents than the working set holds: the answers are those of a store that holds them
    /// all, after every batch, after a reopen, and after a rebuild.
    @Test func aSmallWorkingSetChangesNoAnswer() throws {
        let small = try TemporaryStore(workingSetLimit: 3)
        let large = try TemporaryStore()
        var random = SplitMix64(seed: 7)
        for batch in 0..<40 {
            var events: [IncomingEvent] = []
            for index in 0..<25 {
                let key = Int(random.next() % 60)
                let kinds: [EventKind] = [.errorDetected, .retryAttempt, .poolRecovered, .retryExhausted]
                let ts = day + Int64(batch) * 20 * 60_000 + Int64(index) * 1_000
                events.append(
                    incoming(
                        kinds[Int(random.next() % 4)],
                        ts: ts,
                        component: "c-\(key % 7)",
                        incident: key < 30 ? "order-\(String(format: "%06d", key))-payment" : nil
                    )
                )
            }
            _ = try small.store.append(events)
            _ = try large.store.append(events)
            if batch % 10 == 9 {
                #expect(try small.store.allIncidents(asOf: 0) == large.store.allIncidents(asOf: 0))
            }
        }
        let reopened = try small.reopen(workingSetLimit: 2)
        _ = try reopened.append([incoming(.errorDetected, ts: day + 14 * hourMs, incident: "order-000001-payment")])
        _ = try large.store.append([incoming(.errorDetected, ts: day + 14 * hourMs, incident: "order-000001-payment")])
        #expect(try reopened.allIncidents(asOf: 0) == large.store.allIncidents(asOf: 0))
        #expect(try reopened.verify().isClean)
    }

    /// The active incidents that leave the working set are in the index of keys (migration 007), found there
    /// by later events, and gone from it once they end; `verify` names an entry that is not an active
    /// incident under its key's hash.
    @Test func theIndexOfKeysHoldsTheActiveIncidentsLeftOutOfTheWorkingSet() throws {
        let test = try TemporaryStore(workingSetLimit: 4)
        func entries() throws -> [Int64] {
            try DatabaseQueue(path: test.path).read { db in
                try Int64.fetchAll(db, sql: "SELECT id FROM incident_keys ORDER BY id")
            }
        }
        // Twelve incidents, one a batch. A batch that begins with more than four active in the working set sends
        // all but the two most recent to the index: 1-3 before the sixth, 4-6 before the ninth, 7-9 before the
        // twelfth.
        for number in 0..<12 {
            _ = try test.store.append([
                incoming(.errorDetected, ts: day + Int64(number) * 1_000, incident: "k-\(number)")
            ])
        }
        let indexed = try entries()
        #expect(indexed == Array(1...9))
        // Incident 1 is found in the index and resolved: its entry goes.
        let resolved = try test.store.append([incoming(.recoverySucceeded, ts: day + 20_000, incident: "k-0")])
        #expect(resolved.changedIncidents == [1])
        #expect(try entries() == Array(2...9))
        #expect(try test.store.verify().isClean)
        // A reopened writer makes the index anew from the incidents: its working set takes the four most recently
        // opened (9-12), the index the others.
        let reopened = try test.reopen(workingSetLimit: 4)
        _ = try reopened.append([incoming(.timeoutPrevented, ts: day + 30_000)])
        #expect(try entries() == Array(2...8))
        #expect(try reopened.verify().isClean)

        try DatabaseQueue(path: test.path).write { db in
            try db.execute(sql: "INSERT INTO incident_keys (key_hash, id) VALUES (42, 1), (43, 12)")
        }
        let differences = try reopened.verify().projectionDifferences
        #expect(differences.contains("the index of active keys names incident 1, which has ended"))
        #expect(differences.contains("the index of active keys names incident 12 under another key's hash"))
    }
}
