import SelfHealEvents
import Testing

@testable import SelfHealStore

/// `incidents` ranges and filters, and `stats` figures (SPEC sections 5 and 7).
@Suite struct IncidentQueryTests {
    /// A quiet period longer than every life here (the quiet rule has its own tests).
    static let longQuiet: Int64 = 30 * 24 * hourMs

    /// Incidents with known lives around the range [day + 10h, day + 14h).
    private func storeWithLives() throws -> TemporaryStore {
        let test = try TemporaryStore(quietPeriod: Self.longQuiet)
        let since = day + 10 * hourMs
        let until = day + 14 * hourMs
        try test.append(
            // 1: resolved exactly at since: overlaps.
            incoming(.poolWarning, ts: since - 5_000, component: "a"),
            incoming(.poolRecovered, ts: since, component: "a"),
            // 2: resolved 1 ms before since: does not.
            incoming(.poolWarning, ts: since - 5_000, component: "b"),
            incoming(.poolRecovered, ts: since - 1, component: "b"),
            // 3: opened exactly at until: does not.
            incoming(.poolWarning, ts: until, component: "c"),
            // 4: opened 1 ms before until, still open: overlaps.
            incoming(.poolWarning, ts: until - 1, component: "d"),
            // 5: opened three days before, still failed and unresolved: overlaps.
            incoming(.retryExhausted, ts: since - 72 * hourMs, component: "e", incident: "job-7"),
            // 6: opened two days before, resolved inside the range (a long incident): overlaps.
            incoming(.healthDegraded, ts: since - 48 * hourMs, component: "f"),
            incoming(.healthRecovered, ts: since + hourMs, component: "f"),
            // 7: opened two days before, resolved two hours before since: does not.
            incoming(.healthDegraded, ts: since - 48 * hourMs, component: "g"),
            incoming(.healthRecovered, ts: since - 2 * hourMs, component: "g"),
            // 8: opened and resolved inside, another service, critical.
            incoming(.poolCritical, ts: since + 10, service: "billing", component: "h"),
            incoming(.poolRecovered, ts: since + 4_210, service: "billing", component: "h")
        )
        return test
    }

    @Test func incidentsOverlappingTheRangeInOpeningOrder() throws {
        let test = try storeWithLives()
        let found = try test.store.incidents(IncidentFilter(since: day + 10 * hourMs, until: day + 14 * hourMs))
        // Ordered by opened_at, then id: 5 (-72h), 6 (-48h), 1 (-5 s), 8, 4.
        #expect(found.map(\.component) == ["e", "f", "a", "h", "d"])
    }

    @Test func anIncidentResolvedExactlyAtSinceOverlaps() throws {
        let test = try storeWithLives()
        let found = try test.store.incidents(IncidentFilter(since: day + 10 * hourMs, until: day + 10 * hourMs + 1))
        #expect(found.map(\.component).contains("a"))
        #expect(!found.map(\.component).contains("b"))
    }

    @Test func anIncidentOpenedExactlyAtUntilDoesNotOverlap() throws {
        let test = try storeWithLives()
        let found = try test.store.incidents(IncidentFilter(since: day + 13 * hourMs, until: day + 14 * hourMs))
        #expect(!found.map(\.component).contains("c"))
        #expect(found.map(\.component).contains("d"))
        let later = try test.store.incidents(IncidentFilter(since: day + 14 * hourMs, until: day + 15 * hourMs))
        #expect(later.map(\.component).contains("c"))
    }

    @Test func incidentsOpenedAtTheSameTimeAreOrderedByID() throws {
        let test = try TemporaryStore()
        let t = day + 3 * hourMs
        _ = try test.store.append([
            incoming(.poolWarning, ts: t, component: "open"),
            incoming(.poolWarning, ts: t, component: "hours"),
            incoming(.poolWarning, ts: t, component: "second"),
            incoming(.retryExhausted, ts: t, component: "failed"),
            incoming(.poolWarning, ts: t, component: "minutes"),
            incoming(.poolRecovered, ts: t + 800, component: "second"),
            incoming(.poolRecovered, ts: t + 2 * hourMs, component: "hours"),
            incoming(.poolRecovered, ts: t + 30 * 60_000, component: "minutes"),
            incoming(.recoverySucceeded, ts: t + 500, component: "failed"),
        ])
        let found = try test.store.incidents(IncidentFilter(since: t, until: t + 1))
        #expect(found.map(\.id) == [1, 2, 3, 4, 5])
    }

    @Test func filtersByServiceStateAndLevel() throws {
        let test = try storeWithLives()
        let range = (since: day + 10 * hourMs, until: day + 14 * hourMs)
        let billing = try test.store.incidents(
            IncidentFilter(since: range.since, until: range.until, service: "billing")
        )
        #expect(billing.map(\.component) == ["h"])
        let failed = try test.store.incidents(IncidentFilter(since: range.since, until: range.until, state: .failed))
        #expect(failed.map(\.component) == ["e"])
        #expect(failed.first?.incident == "job-7")
        let open = try test.store.incidents(IncidentFilter(since: range.since, until: range.until, state: .open))
        #expect(open.map(\.component) == ["d"])
        let critical = try test.store.incidents(
            IncidentFilter(since: range.since, until: range.until, minimumLevel: .critical)
        )
        #expect(critical.map(\.component) == ["e", "h"])
    }

    @Test func statsCountIncidentsByOpeningTime() throws {
        let test = try storeWithLives()
        let stats = try test.store.stats(since: day + 10 * hourMs, until: day + 14 * hourMs)
        // Opened in range: 8 (resolved) and 4 (open); 3 opens at until.
        #expect(stats.resolved == 1 && stats.open == 1 && stats.failed == 0)
        #expect(stats.recoveryTimes == [4_200])
        #expect(stats.mttrMs == 4_200)
        #expect(stats.events == 5)
    }

    @Test func statsFigures() throws {
        let test = try TemporaryStore()
        // Resolved in 800 ms, 4.2 s, 1 s and 3 min; one failed; one open; three prevented; info events.
        let recoveries: [Int64] = [800, 4_200, 1_000, 180_000]
        var events: [IncomingEvent] = []
        for (index, recovery) in recoveries.enumerated() {
            let start = day + Int64(index) * 600_000
            events.append(incoming(.poolCritical, ts: start, component: "pool-\(index)"))
            events.append(incoming(.retryAttempt, ts: start + 1, component: "pool-\(index)"))
            events.append(incoming(.poolRecovered, ts: start + recovery, component: "pool-\(index)"))
        }
        events.append(incoming(.retryExhausted, ts: day + 5_000, component: "openai"))
        events.append(incoming(.healthDegraded, ts: day + 6_000, component: "health"))
        events.append(incoming(.timeoutPrevented, ts: day + 7_000, component: "capture"))
        events.append(incoming(.timeoutPrevented, ts: day + 8_000, component: "capture"))
        events.append(incoming(.transitionBlocked, ts: day + 9_000, component: "orders"))
        events.append(incoming(.batchCompleted, ts: day + 9_500, component: "capture"))
        _ = try test.store.append(events)

        let stats = try test.store.stats(since: day, until: day + 24 * hourMs)
        #expect(stats.events == Int64(events.count))
        #expect(stats.prevented == 3)
        #expect(stats.preventedByKind == ["timeout.prevented": 2, "transition.blocked": 1, "ratelimit.throttled": 0])
        #expect(stats.resolved == 4 && stats.failed == 1 && stats.open == 1 && stats.incidents == 6)
        #expect(stats.actions == 9)
        #expect(stats.successRate == 7.0 / 8.0)
        #expect(stats.mttrMs == 46_500)
        // Nearest rank over [800, 1000, 4200, 180000]: p50 is the 2nd, p95 the 4th.
        #expect(stats.recoveryPercentile(50) == 1_000)
        #expect(stats.recoveryPercentile(95) == 180_000)

        let service = try test.store.stats(since: day, until: day + 24 * hourMs, service: "nobody")
        #expect(service.events == 0 && service.successRate == nil && service.mttrMs == nil)
        #expect(service.recoveryPercentile(50) == nil)
    }

    @Test func aFailedThenRecoveredIncidentCountsAsFailedNotInRecoveryTimes() throws {
        let test = try TemporaryStore()
        try test.append(
            incoming(.retryExhausted, ts: day),
            incoming(.recoverySucceeded, ts: day + 9_000),
            incoming(.poolWarning, ts: day + 10_000, component: "p"),
            incoming(.poolRecovered, ts: day + 10_500, component: "p")
        )
        let stats = try test.store.stats(since: day, until: day + hourMs)
        #expect(stats.failed == 1 && stats.resolved == 1)
        #expect(stats.recoveryTimes == [500])
        #expect(stats.successRate == 0.5)
    }

    @Test func aStateChangeAfterOpeningMovesTheOpeningHoursCounters() throws {
        let test = try TemporaryStore(quietPeriod: Self.longQuiet)
        try test.append(incoming(.poolWarning, ts: day + 30 * 60_000))
        let monday = (since: day, until: day + 24 * hourMs)
        #expect(try test.store.stats(since: monday.since, until: monday.until).open == 1)
        // Resolved the next day: the opening day's figures change.
        try test.append(incoming(.poolRecovered, ts: day + 25 * hourMs))
        let stats = try test.store.stats(since: monday.since, until: monday.until)
        #expect(stats.open == 0 && stats.resolved == 1)
        #expect(stats.recoveryTimes == [25 * hourMs - 30 * 60_000])
        #expect(try test.store.stats(since: monday.until, until: monday.until + 24 * hourMs).incidents == 0)
    }

    @Test func statsOverRangesThatDoNotFillHours() throws {
        let test = try TemporaryStore()
        var events: [IncomingEvent] = []
        for minute in stride(from: Int64(0), to: 300, by: 7) {
            let ts = day + minute * 60_000
            events.append(incoming(minute % 2 == 0 ? .poolWarning : .poolRecovered, ts: ts))
            events.append(incoming(.timeoutPrevented, ts: ts + 1))
        }
        _ = try test.store.append(events)
        for (since, until) in [
            (day + 1, day + 5 * hourMs - 1), (day + 90 * 60_000, day + 100 * 60_000),
            (day + 59 * 60_000, day + 61 * 60_000), (day - hourMs, day + 10 * hourMs),
            (day + 7 * 60_000, day + 7 * 60_000),
        ] {
            let stats = try test.store.stats(since: since, until: until)
            let inRange = events.filter { $0.event.timestamp! >= since && $0.event.timestamp! < until }
            #expect(stats.events == Int64(inRange.count))
            #expect(stats.prevented == Int64(inRange.filter { $0.event.kind == .timeoutPrevented }.count))
            let opened = try test.store.allIncidents().filter { $0.openedAt >= since && $0.openedAt < until }
            #expect(stats.incidents == Int64(opened.count))
            #expect(stats.resolved == Int64(opened.filter { $0.state == .resolved }.count))
        }
    }
}
