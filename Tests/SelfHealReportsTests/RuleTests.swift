import SelfHealEvents
import SelfHealStore
import Testing

@testable import SelfHealReports

@Suite("Rules at their thresholds")
struct RuleTests {
    @Test func trendNeedsFiveEventsInTheTwoWeeks() {
        #expect(Trend.of(thisWeek: 4, lastWeek: 0) == .tooFewToTell)
        #expect(Trend.of(thisWeek: 2, lastWeek: 2) == .tooFewToTell)
        #expect(Trend.of(thisWeek: 5, lastWeek: 0) == .new)
        #expect(Trend.of(thisWeek: 3, lastWeek: 2) == .stable)
    }

    @Test func trendNeedsOnePerDayApart() {
        // 7 more in 7 days is exactly 1 per day: a change. 6 more is not.
        #expect(Trend.of(thisWeek: 14, lastWeek: 7) == .increasing)
        #expect(Trend.of(thisWeek: 13, lastWeek: 7) == .stable)
        #expect(Trend.of(thisWeek: 0, lastWeek: 7) == .decreasing)
        #expect(Trend.of(thisWeek: 1, lastWeek: 7) == .stable)
    }

    @Test func trendNeedsTwentyPercentApart() {
        // Last week 35 (5 per day): 7 more is exactly 20% and 1 per day.
        #expect(Trend.of(thisWeek: 42, lastWeek: 35) == .increasing)
        #expect(Trend.of(thisWeek: 28, lastWeek: 35) == .decreasing)
        // Last week 70 (10 per day): 1 per day more is only 10%.
        #expect(Trend.of(thisWeek: 77, lastWeek: 70) == .stable)
        #expect(Trend.of(thisWeek: 84, lastWeek: 70) == .increasing)
        #expect(Trend.of(thisWeek: 83, lastWeek: 70) == .stable)
    }

    static func figures(prevented: Int64 = 0, resolved: Int64 = 0, failed: Int64 = 0, open: Int64 = 0) -> ReportFigures
    {
        ReportFigures(
            events: prevented + resolved + failed + open,
            preventedByKind: ["timeout.prevented": prevented],
            resolved: resolved,
            failed: failed,
            open: open,
            recoveryTimes: []
        )
    }

    static func incident(_ state: IncidentState, openedAt: Int64 = 0, resolvedAt: Int64? = nil) -> ReportIncident {
        ReportIncident(
            id: 1,
            service: "s",
            component: "c",
            kind: "pool.warning",
            title: "t",
            state: state,
            peakLevel: .warning,
            openedAt: openedAt,
            resolvedAt: resolvedAt
        )
    }

    @Test func verdictFromTheSuccessRate() {
        #expect(HealthVerdict.judge(figures: Self.figures(), incidents: [], asOf: 0) == .quiet)
        #expect(
            HealthVerdict.judge(figures: Self.figures(prevented: 98, resolved: 0, failed: 0), incidents: [], asOf: 0)
                == .excellent
        )
        // 98 of 100 is exactly the excellent rate; 97 of 100 is good; 95 of 100 is still good; 94 of 100 needs attention.
        let failures = (0..<2).map { _ in Self.incident(.failed, resolvedAt: 5) }
        #expect(
            HealthVerdict.judge(figures: Self.figures(prevented: 98, failed: 2), incidents: [], asOf: 0) == .attention
        )
        #expect(
            HealthVerdict.judge(figures: Self.figures(prevented: 98, failed: 2), incidents: failures, asOf: 0)
                == .attention
        )
        #expect(
            HealthVerdict.judge(figures: Self.figures(prevented: 97, resolved: 3), incidents: [], asOf: 0) == .excellent
        )
        #expect(
            HealthVerdict.judge(figures: Self.figures(prevented: 79, open: 1), incidents: [], asOf: 0) == .excellent
        )
        #expect(HealthVerdict.judge(figures: Self.figures(prevented: 80), incidents: [], asOf: 0) == .excellent)
    }

    @Test func verdictThresholdsOnTheRateAlone() {
        // The rate without failures can only be below 100% through failures, so test the rule directly on rates
        // made by failed incidents that have since recovered (attention at least) and unresolved ones (critical).
        let recovered = Self.incident(.failed, resolvedAt: 5)
        let unresolved = Self.incident(.failed)
        #expect(
            HealthVerdict.judge(figures: Self.figures(prevented: 99, failed: 1), incidents: [recovered], asOf: 0)
                == .attention
        )
        #expect(
            HealthVerdict.judge(figures: Self.figures(prevented: 99, failed: 1), incidents: [unresolved], asOf: 0)
                == .critical
        )
        #expect(
            HealthVerdict.judge(figures: Self.figures(prevented: 80, failed: 20), incidents: [recovered], asOf: 0)
                == .attention
        )
        #expect(
            HealthVerdict.judge(figures: Self.figures(prevented: 79, failed: 21), incidents: [recovered], asOf: 0)
                == .critical
        )
    }

    @Test func anIncidentOpenForAnHourNeedsAttention() {
        let open = Self.incident(.open, openedAt: 0)
        #expect(
            HealthVerdict.judge(figures: Self.figures(prevented: 10, open: 1), incidents: [open], asOf: 3_599_999)
                == .excellent
        )
        #expect(
            HealthVerdict.judge(figures: Self.figures(prevented: 10, open: 1), incidents: [open], asOf: 3_600_000)
                == .attention
        )
    }

    static func kinds(poolDays: Int) -> [KindCount] {
        [KindCount(kind: "pool.warning", count: Int64(poolDays), selfHealed: Int64(poolDays), daysSeen: poolDays)]
    }

    @Test func recommendations() {
        func rules(_ preventedByKind: [String: Int64], poolDays: Int = 0, failed: Int64 = 0) -> [Recommendation.Rule] {
            let figures = ReportFigures(
                events: 1,
                preventedByKind: preventedByKind,
                resolved: 0,
                failed: failed,
                open: 0,
                recoveryTimes: []
            )
            return Recommendation.derive(figures: figures, kinds: Self.kinds(poolDays: poolDays), days: 7).map(\.rule)
        }
        #expect(rules([:]) == [.allClear])
        #expect(rules(["transition.blocked": 1]) == [.invalidTransitions])
        // Auto-batching: 7 in a week is 1 per day, frequent; 6 is not.
        #expect(rules(["timeout.prevented": 7]) == [.frequentBatching])
        #expect(rules(["timeout.prevented": 6]) == [.allClear])
        // Pool warnings on all 7 days; 6 days is not every day.
        #expect(rules(["timeout.prevented": 1], poolDays: 7) == [.chronicPoolWarnings])
        #expect(rules(["timeout.prevented": 1], poolDays: 6) == [.allClear])
        #expect(rules(["timeout.prevented": 99], failed: 1) == [.frequentBatching, .failures])
        // 38 of 40 is exactly the 95% target; 37 of 39 is below it.
        #expect(rules(["timeout.prevented": 38], failed: 2).contains(.belowTarget) == false)
        #expect(rules(["timeout.prevented": 37], failed: 2).contains(.belowTarget))
    }

    @Test func formats() {
        #expect(ReportFormat.count(1_418) == "1,418")
        #expect(ReportFormat.count(1_000_000) == "1,000,000")
        #expect(ReportFormat.percent(0.985) == "98.5%")
        #expect(ReportFormat.percent(18.0 / 19.0) == "94.7%")
        #expect(ReportFormat.percent(1) == "100.0%")
        #expect(ReportFormat.duration(800) == "800 ms")
        #expect(ReportFormat.duration(4_200) == "4.2 s")
        #expect(ReportFormat.duration(12_400) == "12 s")
        #expect(ReportFormat.duration(185_000) == "3 min 5 s")
        #expect(ReportFormat.duration(7_800_000) == "2 h 10 min")
        #expect(ReportFormat.duration(100_800_000) == "1 d 4 h")
    }
}
