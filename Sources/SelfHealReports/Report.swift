import Foundation
import SelfHealEvents
import SelfHealStore

/// A daily or weekly report: the figures of its period and what the rules make of them, ready to render.
public struct Report: Sendable {
    /// What the report is made from.
    public let input: ReportInput
    /// The health verdict.
    public let verdict: HealthVerdict
    /// Why: one sentence.
    public let verdictReason: String
    /// The most frequent issues by kind (at most 5).
    public let topIssues: [KindCount]
    /// Every failed, still-open or expired incident overlapping the period, oldest first.
    public let attention: [ReportIncident]
    /// Per kind, this week against last week (weekly reports; empty for daily ones).
    public let trends: [KindTrend]
    /// Recommendations derived from the data (weekly reports; empty for daily ones).
    public let recommendations: [Recommendation]

    /// How many issues the top list shows.
    public static let topIssueCount = 5

    /// Builds a daily report.
    public static func daily(_ input: ReportInput) -> Report {
        Report(input: input, weekly: false)
    }

    /// Builds a weekly report; `input.previousKinds` holds the week before, for the trends.
    public static func weekly(_ input: ReportInput) -> Report {
        Report(input: input, weekly: true)
    }

    private init(input: ReportInput, weekly: Bool) {
        self.input = input
        let asOf = input.generatedAt
        verdict = HealthVerdict.judge(figures: input.figures, incidents: input.incidents, asOf: asOf)
        verdictReason = Self.reason(verdict, figures: input.figures, incidents: input.incidents, asOf: asOf)
        topIssues = Array(input.kinds.prefix(Self.topIssueCount))
        attention = input.incidents.filter { $0.state != .resolved }
        if weekly {
            let before = Dictionary(input.previousKinds.map { ($0.kind, $0.count) }, uniquingKeysWith: +)
            let now = Dictionary(input.kinds.map { ($0.kind, $0.count) }, uniquingKeysWith: +)
            let kinds = Set(before.keys).union(now.keys)
            trends = kinds.map { kind in
                let thisWeek = now[kind] ?? 0
                let lastWeek = before[kind] ?? 0
                return KindTrend(
                    kind: kind,
                    thisWeek: thisWeek,
                    lastWeek: lastWeek,
                    trend: Trend.of(thisWeek: thisWeek, lastWeek: lastWeek, days: input.period.days)
                )
            }
            .sorted { ($0.thisWeek + $0.lastWeek, $1.kind) > ($1.thisWeek + $1.lastWeek, $0.kind) }
            recommendations = Recommendation.derive(
                figures: input.figures,
                kinds: input.kinds,
                days: input.period.days
            )
        } else {
            trends = []
            recommendations = []
        }
    }

    /// Daily or weekly.
    public var kind: ReportPeriod.Kind { input.period.kind }
    /// The figures.
    public var figures: ReportFigures { input.figures }
    /// True when nothing happened in the period.
    public var isEmpty: Bool { figures.events == 0 && figures.actions == 0 && input.incidents.isEmpty }

    /// `Self-Healing System Report - November 25, 2025` or `Self-Healing System Weekly Report - Week 48, 2025`.
    public var subject: String {
        switch kind {
        case .daily: "Self-Healing System Report - \(input.period.title)"
        case .weekly: "Self-Healing System Weekly Report - \(input.period.title)"
        }
    }

    /// `selfheal-daily-2025-11-25` or `selfheal-weekly-2025-W48`.
    public var fileStem: String { "selfheal-\(kind.rawValue)-\(input.period.label)" }

    /// The one-paragraph summary a manager reads.
    public var summary: String {
        let period = kind == .daily ? "this day" : "this week"
        if isEmpty { return "No self-healing events were recorded \(period): nothing to report." }
        var sentences: [String] = []
        let actions = figures.actions
        sentences.append(
            "Self-healing acted \(ReportFormat.count(actions)) \(actions == 1 ? "time" : "times") \(period)"
                + (actions == 0 ? "." : ":")
        )
        if actions > 0 {
            var parts: [String] = []
            parts.append(
                "\(ReportFormat.count(figures.prevented)) \(figures.prevented == 1 ? "problem was" : "problems were") "
                    + "prevented before users could notice"
            )
            parts.append(
                "\(ReportFormat.count(figures.resolved)) \(figures.resolved == 1 ? "incident" : "incidents") "
                    + "recovered on \(figures.resolved == 1 ? "its" : "their") own"
                    + (figures.mttrMs.map { ", in \(ReportFormat.duration($0)) on average" } ?? "")
            )
            sentences[0] += " " + parts.joined(separator: " and ") + "."
        }
        if figures.failed == 0 && figures.open == 0 && attention.isEmpty {
            sentences.append("No manual intervention required.")
        }
        if figures.failed > 0 {
            sentences.append(
                "\(ReportFormat.count(figures.failed)) \(figures.failed == 1 ? "incident" : "incidents") "
                    + "could not heal and \(figures.failed == 1 ? "needs" : "need") a person."
            )
        }
        if figures.open > 0 {
            sentences.append(
                "\(ReportFormat.count(figures.open)) \(figures.open == 1 ? "incident is" : "incidents are") still open."
            )
        }
        if figures.expired > 0 {
            sentences.append(
                "\(ReportFormat.count(figures.expired)) \(figures.expired == 1 ? "incident" : "incidents") went quiet "
                    + "without a recovery signal (outcome unknown)."
            )
        }
        let earlier = attention.filter { $0.openedAt < input.period.since }.count
        if earlier > 0 {
            sentences.append(
                "\(earlier) \(earlier == 1 ? "incident" : "incidents") from before this period "
                    + "\(earlier == 1 ? "is" : "are") still unresolved."
            )
        }
        return sentences.joined(separator: " ")
    }

    /// The busiest bucket of the chart, if any action happened.
    public var busiest: ChartBucket? {
        input.buckets.max { ($0.total, $1.start) < ($1.total, $0.start) }.flatMap { $0.total > 0 ? $0 : nil }
    }

    /// The age of an incident as the report states it: how long it has been open or unresolved.
    public func age(of incident: ReportIncident) -> String {
        if let resolvedAt = incident.resolvedAt {
            return "recovered after \(ReportFormat.duration(resolvedAt - incident.openedAt))"
        }
        if incident.state == .expired {
            let zone = input.period.zone
            let last =
                incident.lastEventAt < input.period.since
                ? ReportFormat.dayTime(incident.lastEventAt, zone: zone)
                : ReportFormat.time(incident.lastEventAt, zone: zone)
            return "went quiet without a recovery signal (nothing heard after \(last))"
        }
        return "\(ReportFormat.duration(input.generatedAt - incident.openedAt)) unresolved"
    }

    private static func reason(
        _ verdict: HealthVerdict,
        figures: ReportFigures,
        incidents: [ReportIncident],
        asOf: Int64
    ) -> String {
        let target = "\(Int((ReportRules.successTarget * 100).rounded()))%"
        let rate = figures.successRate.map { ReportFormat.percent($0) }
        let unresolved = incidents.filter { $0.state == .failed && $0.resolvedAt == nil }.count
        let stale = incidents.filter { $0.state == .open && asOf - $0.openedAt >= ReportRules.staleOpenMs }.count
        switch verdict {
        case .quiet:
            return "No events in this period."
        case .critical:
            if unresolved > 0 {
                return "\(unresolved) failed \(unresolved == 1 ? "incident is" : "incidents are") still unresolved: "
                    + "manual intervention required."
            }
            return "Success rate \(rate ?? "n/a") is below \(Int((ReportRules.criticalRate * 100).rounded()))%."
        case .attention:
            var reasons: [String] = []
            if figures.failed > 0 || incidents.contains(where: { $0.state == .failed }) {
                reasons.append("a failure occurred (since recovered)")
            }
            if stale > 0 {
                reasons.append("\(stale) \(stale == 1 ? "incident has" : "incidents have") been open over an hour")
            }
            if let value = figures.successRate, value < ReportRules.successTarget {
                reasons.append("success rate \(rate!) is below the \(target) target")
            }
            return reasons.joined(separator: "; ").capitalizedFirst + "."
        case .good, .excellent:
            if let rate {
                return "Success rate \(rate) meets the \(target) target; no failures, nothing left open."
            }
            return "Nothing needed deciding; no failures, nothing left open."
        }
    }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
