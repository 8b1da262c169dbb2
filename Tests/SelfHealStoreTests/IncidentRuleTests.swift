import SelfHealEvents
import Testing

@testable import SelfHealStore

/// One test per row of the role table of SPEC section 5, and per edge of the rules.
@Suite struct IncidentRuleTests {
    @Test func detectWithNoActiveIncidentOpensOne() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.poolWarning, ts: day + 1_000, message: "Pool at 85%"))
        let incident = try #require(try test.onlyIncident())
        #expect(incident.state == .open)
        #expect(incident.openedAt == day + 1_000)
        #expect(incident.resolvedAt == nil && incident.failedAt == nil && incident.recoveryMs == nil)
        #expect(incident.eventCount == 1)
        #expect(incident.peakLevel == .warning)
        #expect(incident.actions == [])
        #expect(incident.component == "db-pool" && incident.incident == nil)
        #expect(incident.title == "Connection pool warning on db-pool: Pool at 85%")
    }

    @Test func detectJoinsTheActiveIncident() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.poolWarning, ts: day), incoming(.poolCritical, ts: day + 10))
        let incident = try #require(try test.onlyIncident())
        #expect(incident.eventCount == 2)
        #expect(incident.peakLevel == .critical)
        #expect(incident.openedAt == day)
    }

    @Test func mitigateWithNoActiveIncidentOpensOneWithItsAction() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.retryAttempt, ts: day))
        let incident = try #require(try test.onlyIncident())
        #expect(incident.state == .open)
        #expect(incident.actions == ["retry.attempt"])
        #expect(incident.peakLevel == .info)
    }

    @Test func mitigateJoinsTheActiveIncidentWhateverItsState() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.errorDetected, ts: day), incoming(.retryExhausted, ts: day + 5))
        try test.append(incoming(.breakerOpened, ts: day + 9))
        let incident = try #require(try test.onlyIncident())
        #expect(incident.state == .failed)
        #expect(incident.eventCount == 3)
        #expect(incident.actions == ["breaker.opened"])
    }

    @Test func actionsAreDistinctAndSorted() throws {
        let test = try TemporaryStore()
        try test.append(
            incoming(.retryAttempt, ts: day),
            incoming(.breakerOpened, ts: day + 1),
            incoming(.retryAttempt, ts: day + 2),
            incoming(.fallbackServed, ts: day + 3),
            incoming(.breakerOpened, ts: day + 4)
        )
        #expect(try test.onlyIncident()?.actions == ["breaker.opened", "fallback.served", "retry.attempt"])
    }

    @Test func recoverResolvesAnOpenIncident() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.poolCritical, ts: day), incoming(.poolRecovered, ts: day + 800))
        let incident = try #require(try test.onlyIncident())
        #expect(incident.state == .resolved)
        #expect(incident.resolvedAt == day + 800)
        #expect(incident.recoveryMs == 800)
        #expect(incident.eventCount == 2)
        #expect(incident.peakLevel == .critical)
    }

    @Test func recoverWithNoActiveIncidentDoesNothing() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.poolRecovered, ts: day))
        #expect(try test.store.allIncidents().isEmpty)
        try test.append(incoming(.poolWarning, ts: day + 1), incoming(.poolRecovered, ts: day + 2))
        try test.append(incoming(.poolRecovered, ts: day + 3))
        let incident = try #require(try test.onlyIncident())
        #expect(incident.eventCount == 2)
        #expect(incident.resolvedAt == day + 2)
    }

    @Test func recoverEndsAFailedIncidentWhichStaysFailed() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.errorDetected, ts: day), incoming(.retryExhausted, ts: day + 1_000))
        try test.append(incoming(.recoverySucceeded, ts: day + 60_000))
        let incident = try #require(try test.onlyIncident())
        #expect(incident.state == .failed)
        #expect(incident.failedAt == day + 1_000)
        #expect(incident.resolvedAt == day + 60_000)
        #expect(incident.recoveryMs == 60_000)
        // It is no longer active: the next detect opens a new incident.
        try test.append(incoming(.errorDetected, ts: day + 70_000))
        let all = try test.store.allIncidents()
        #expect(all.count == 2)
        #expect(all[1].state == .open && all[1].openedAt == day + 70_000)
    }

    @Test func failMakesAnOpenIncidentFailed() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.retryAttempt, ts: day, component: "openai"))
        try test.append(incoming(.retryExhausted, ts: day + 3_000, component: "openai"))
        let incident = try #require(try test.onlyIncident())
        #expect(incident.state == .failed)
        #expect(incident.failedAt == day + 3_000)
        #expect(incident.resolvedAt == nil && incident.recoveryMs == nil)
        #expect(incident.peakLevel == .failure)
        #expect(incident.eventCount == 2)
    }

    @Test func failOnAFailedIncidentOnlyAddsTheEvent() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.retryExhausted, ts: day), incoming(.interventionRequired, ts: day + 500))
        let incident = try #require(try test.onlyIncident())
        #expect(incident.state == .failed)
        #expect(incident.failedAt == day)
        #expect(incident.eventCount == 2)
    }

    @Test func failWithNoActiveIncidentOpensOneAlreadyFailed() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.retryExhausted, ts: day + 42, message: "3 attempts"))
        let incident = try #require(try test.onlyIncident())
        #expect(incident.state == .failed)
        #expect(incident.openedAt == day + 42 && incident.failedAt == day + 42)
        #expect(incident.eventCount == 1)
        #expect(incident.title == "Retries exhausted on db-pool: 3 attempts")
    }

    @Test(arguments: [EventKind.timeoutPrevented, .transitionBlocked, .ratelimitThrottled, .batchCompleted])
    func preventAndInfoTouchNoIncident(kind: EventKind) throws {
        let test = try TemporaryStore()
        try test.append(incoming(.poolWarning, ts: day), incoming(kind, ts: day + 1))
        #expect(try test.onlyIncident()?.eventCount == 1)
        try test.append(incoming(.poolRecovered, ts: day + 2), incoming(kind, ts: day + 3))
        #expect(try test.store.allIncidents().count == 1)
        let stats = try test.store.stats(since: day, until: day + hourMs)
        #expect(stats.prevented == (kind.role == .prevent ? 2 : 0))
        #expect(stats.events == 4)
    }

    @Test func customKindsAreInfo() throws {
        let test = try TemporaryStore()
        try test.append(incoming(try #require(EventKind(name: "x.cache.miss")), ts: day))
        #expect(try test.store.allIncidents().isEmpty)
    }

    @Test func peakLevelOnlyRises() throws {
        let test = try TemporaryStore()
        try test.append(
            incoming(.retryAttempt, ts: day),
            incoming(.errorDetected, ts: day + 1, level: .critical),
            incoming(.breakerOpened, ts: day + 2, level: .info)
        )
        let incident = try #require(try test.onlyIncident())
        #expect(incident.peakLevel == .critical)
        #expect(incident.eventCount == 3)
    }

    @Test func keysFromIncidentAndFromComponentNeverMeet() throws {
        let test = try TemporaryStore()
        try test.append(
            incoming(.errorDetected, ts: day, component: "checkout"),
            incoming(.errorDetected, ts: day + 1, component: "other", incident: "checkout"),
            incoming(.errorDetected, ts: day + 2, service: "billing", component: "checkout"),
            // Same incident key, another component: joins the incident-keyed one.
            incoming(.retryAttempt, ts: day + 3, component: "third", incident: "checkout")
        )
        let all = try test.store.allIncidents()
        #expect(all.count == 3)
        #expect(all[0].incident == nil && all[0].component == "checkout" && all[0].eventCount == 1)
        #expect(all[1].incident == "checkout" && all[1].component == "other" && all[1].eventCount == 2)
        #expect(all[2].service == "billing")
        // A recover on the component key ends only that one.
        try test.append(incoming(.recoverySucceeded, ts: day + 4, component: "checkout"))
        let after = try test.store.allIncidents()
        #expect(after.map(\.state) == [.resolved, .open, .open])
    }

    @Test func theActiveIncidentIsTheLatestUnresolvedOne() throws {
        let test = try TemporaryStore()
        try test.append(
            incoming(.poolWarning, ts: day),
            incoming(.poolRecovered, ts: day + 1),
            incoming(.poolWarning, ts: day + 2),
            incoming(.poolRecovered, ts: day + 3),
            incoming(.poolWarning, ts: day + 4)
        )
        let all = try test.store.allIncidents()
        #expect(all.map(\.id) == [1, 2, 3])
        #expect(all.map(\.state) == [.resolved, .resolved, .open])
        #expect(all.map(\.eventCount) == [2, 2, 1])
    }

    @Test func recoveryTimeIsClampedAtZeroWhenEventsArriveLate() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.poolWarning, ts: day + 5_000))
        try test.append(incoming(.poolRecovered, ts: day + 1_000))
        let incident = try #require(try test.onlyIncident())
        #expect(incident.state == .resolved)
        #expect(incident.resolvedAt == day + 1_000)
        #expect(incident.recoveryMs == 0)
        let stats = try test.store.stats(since: day, until: day + hourMs)
        #expect(stats.mttrMs == 0)
    }

    @Test func duplicatesAreNeverApplied() throws {
        let test = try TemporaryStore()
        try test.append(incoming(.poolWarning, ts: day, id: "e1"), incoming(.poolWarning, ts: day + 1, id: "e1"))
        try test.append(incoming(.poolWarning, ts: day + 2, id: "e1"), incoming(.breakerOpened, ts: day + 3, id: "e2"))
        try test.append(incoming(.breakerOpened, ts: day + 4, id: "e2"))
        let incident = try #require(try test.onlyIncident())
        #expect(incident.eventCount == 2)
        #expect(try test.store.stats(since: day, until: day + hourMs).events == 2)
    }

    @Test func theTitleComesFromTheFirstEvent() throws {
        let test = try TemporaryStore()
        try test.append(
            incoming(.breakerOpened, ts: day, component: "openai", message: "5 failures in 10 s\nstack..."),
            incoming(.errorDetected, ts: day + 1, component: "openai", message: "later")
        )
        #expect(try test.onlyIncident()?.title == "Circuit breaker opened on openai: 5 failures in 10 s")
        try test.append(incoming(.healthDegraded, ts: day, component: "db"))
        #expect(try test.store.allIncidents().last?.title == "Health degraded on db")
    }

    /// The first line of the message, up to CR or LF; a line of more than 160 bytes is cut to 159 characters and
    /// an ellipsis. The limit counts bytes and the cut characters, as 0.1.0 did (stored titles must stay what a
    /// replay gives): a line of 100 two-byte characters keeps them all and still gets the ellipsis.
    @Test func theTitleTakesTheMessagesFirstLineCutWhenLong() throws {
        let exactly160 = String(repeating: "a", count: 160)
        let long = String(repeating: "b", count: 200)
        let accented = String(repeating: "é", count: 100)  // 200 bytes, 100 characters
        let cases: [(message: String?, title: String)] = [
            ("first\r\nsecond", "Connection pool warning on c: first"),
            ("\nafter an empty line", "Connection pool warning on c"),
            ("", "Connection pool warning on c"),
            (nil, "Connection pool warning on c"),
            (exactly160 + "\nmore", "Connection pool warning on c: " + exactly160),
            (long, "Connection pool warning on c: " + String(repeating: "b", count: 159) + "…"),
            (accented, "Connection pool warning on c: " + String(repeating: "é", count: 100) + "…"),
            ("ünïcödé 🚀 ok", "Connection pool warning on c: ünïcödé 🚀 ok"),
        ]
        for (index, testCase) in cases.enumerated() {
            let test = try TemporaryStore()
            try test.append(incoming(.poolWarning, ts: day, component: "c", message: testCase.message))
            #expect(try test.onlyIncident()?.title == testCase.title, "case \(index)")
        }
    }
}
