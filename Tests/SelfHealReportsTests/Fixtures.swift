import Foundation
import SelfHealEvents
import SelfHealReports
import SelfHealStore

/// A realistic day (2025-11-25 in Europe/Paris) and week, with hand-computed figures.
enum Fixtures {
    static let paris = TimeZone(identifier: "Europe/Paris")!
    static let mail = MailSettings(
        from: "selfheal <selfheal@example.com>",
        to: ["ops@example.com"],
        domain: "example.com"
    )

    /// Epoch milliseconds of a local time in Paris.
    static func at(_ text: String) -> Int64 {
        Timestamp.parseRFC3339(text.contains("+") ? text : text + "+01:00")!
    }

    static let day = ReportPeriod.day("2025-11-25", zone: paris)!
    static let generatedAt = at("2025-11-26T07:00:00")

    static let dayIncidents: [ReportIncident] = [
        ReportIncident(
            id: 1,
            service: "payments",
            component: "health",
            kind: "health.unhealthy",
            title: "health.unhealthy on health: check db failed",
            state: .open,
            peakLevel: .critical,
            openedAt: at("2025-11-24T21:00:00"),
            eventCount: 3
        ),
        ReportIncident(
            id: 2,
            service: "portal",
            component: "db-pool",
            kind: "pool.warning",
            title: "pool.warning on db-pool: Connection pool at 85% (85/100)",
            state: .resolved,
            peakLevel: .critical,
            openedAt: at("2025-11-25T09:40:20.200"),
            resolvedAt: at("2025-11-25T09:40:21.000"),
            actions: ["breaker.opened"],
            eventCount: 5
        ),
        ReportIncident(
            id: 3,
            service: "portal",
            component: "/api/manager/assistance",
            kind: "error.detected",
            title: "error.detected on /api/manager/assistance: HTTP 500",
            state: .resolved,
            peakLevel: .warning,
            openedAt: at("2025-11-25T09:40:20.400"),
            resolvedAt: at("2025-11-25T09:40:24.600"),
            actions: ["breaker.opened", "retry.attempt"],
            eventCount: 6
        ),
        ReportIncident(
            id: 4,
            service: "portal",
            component: "db-pool",
            kind: "pool.warning",
            title: "pool.warning on db-pool: Connection pool at 86% (86/100)",
            state: .resolved,
            peakLevel: .warning,
            openedAt: at("2025-11-25T14:10:00"),
            resolvedAt: at("2025-11-25T14:10:02.500"),
            eventCount: 2
        ),
        ReportIncident(
            id: 5,
            service: "portal",
            component: "openai",
            kind: "response.invalid",
            title: "response.invalid on openai: HTML instead of JSON",
            state: .failed,
            peakLevel: .failure,
            openedAt: at("2025-11-25T16:00:00"),
            failedAt: at("2025-11-25T16:00:30"),
            actions: ["retry.attempt"],
            eventCount: 4
        ),
        ReportIncident(
            id: 6,
            service: "search",
            component: "search",
            kind: "health.degraded",
            title: "health.degraded on search: response 2400 ms",
            state: .open,
            peakLevel: .warning,
            openedAt: at("2025-11-25T22:30:00"),
            eventCount: 1
        ),
        ReportIncident(
            id: 7,
            service: "portal",
            component: "smtp-relay",
            kind: "timeout.fired",
            title: "Timeouts on smtp-relay: no answer in 30 s",
            state: .expired,
            peakLevel: .warning,
            openedAt: at("2025-11-25T11:02:00"),
            lastEventAt: at("2025-11-25T11:05:00"),
            endedAt: at("2025-11-25T15:05:00"),
            eventCount: 2
        ),
    ]

    static let dayPrevented: [String: [Int64]] = [
        "timeout.prevented": ["08:05", "10:20", "11:00", "14:05", "14:06", "14:07", "17:30", "19:45"].map {
            at("2025-11-25T\($0):00")
        },
        "transition.blocked": (1...5).map { at("2025-11-25T09:15:0\($0)") },
        "ratelimit.throttled": [at("2025-11-25T12:00:00"), at("2025-11-25T12:00:30")],
    ]

    /// 15 prevented, 3 resolved, 1 failed, 1 open, 1 expired (incident 1 opened the day before does not count).
    static let dayFigures = ReportFigures(
        events: 42,
        preventedByKind: ["timeout.prevented": 8, "transition.blocked": 5, "ratelimit.throttled": 2],
        resolved: 3,
        failed: 1,
        open: 1,
        expired: 1,
        recoveryTimes: [800, 4_200, 2_500]
    )

    static var dayInput: ReportInput {
        ReportInput.assemble(
            period: day,
            figures: dayFigures,
            incidents: dayIncidents,
            preventedTimes: dayPrevented,
            generatedAt: generatedAt
        )
    }

    static var emptyDayInput: ReportInput {
        ReportInput.assemble(
            period: day,
            figures: ReportFigures(events: 0, preventedByKind: [:], resolved: 0, failed: 0, open: 0, recoveryTimes: []),
            incidents: [],
            preventedTimes: [:],
            generatedAt: generatedAt
        )
    }

    static let week = ReportPeriod.week("2025-W48", zone: paris)!

    /// A week with pool warnings every day (resolved), daily auto-batching, and a blocked transition.
    static var weekInput: ReportInput {
        let previous = week.previous
        var incidents: [ReportIncident] = []
        var lastWeekIncidents: [ReportIncident] = []
        var id: Int64 = 1
        for day in 0..<7 {
            for (index, period) in [(0, previous), (1, week)] {
                let count = index == 0 ? 3 : 1  // pool warnings: 3 a day last week, 1 a day this week
                for n in 0..<count {
                    let opened = period.dayStarts[day] + Int64(9 * 3_600_000 + n * 600_000)
                    let incident = ReportIncident(
                        id: id,
                        service: "portal",
                        component: "db-pool",
                        kind: "pool.warning",
                        title: "pool.warning on db-pool",
                        state: .resolved,
                        peakLevel: .warning,
                        openedAt: opened,
                        resolvedAt: opened + 1_000,
                        actions: ["breaker.opened"],
                        eventCount: 3
                    )
                    id += 1
                    if index == 0 { lastWeekIncidents.append(incident) } else { incidents.append(incident) }
                }
            }
        }
        let thisBatching = (0..<7).flatMap { day in
            (0..<9).map { week.dayStarts[day] + Int64(14 * 3_600_000 + $0 * 1_000) }
        }
        let lastBatching = (0..<7).flatMap { day in
            (0..<8).map { previous.dayStarts[day] + Int64(14 * 3_600_000 + $0 * 1_000) }
        }
        let blocked = [week.dayStarts[2] + 33_300_000]
        let times = ["timeout.prevented": thisBatching, "transition.blocked": blocked]
        let figures = ReportFigures(
            events: 300,
            preventedByKind: ["timeout.prevented": 63, "transition.blocked": 1],
            resolved: 7,
            failed: 0,
            open: 0,
            recoveryTimes: Array(repeating: 1_000, count: 7)
        )
        return ReportInput.assemble(
            period: week,
            figures: figures,
            incidents: incidents,
            preventedTimes: times,
            previous: (previous, lastWeekIncidents, ["timeout.prevented": lastBatching]),
            generatedAt: week.until + 3_600_000
        )
    }
}
