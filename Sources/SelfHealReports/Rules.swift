import SelfHealStore

/// The report's judgements as small pure functions with their thresholds (documented in the README).
public enum ReportRules {
    /// The success rate a healthy system keeps: 95%.
    public static let successTarget = 0.95
    /// From this success rate, with no failure and nothing open too long, the verdict is excellent: 98%.
    public static let excellentRate = 0.98
    /// Below this success rate the verdict is critical: 80%.
    public static let criticalRate = 0.80
    /// An incident still open this long at the end of the period needs attention: 1 hour.
    public static let staleOpenMs: Int64 = 3_600_000

    /// A trend differs when the per-day rates are at least this far apart relative to last week's: 20%.
    public static let trendRelative = 0.20
    /// ...and at least this many per day apart: 1.
    public static let trendAbsolutePerDay = 1.0
    /// ...and the two weeks together hold at least this many: 5.
    public static let trendMinimumEvents: Int64 = 5

    /// Auto-batching is frequent from this many `timeout.prevented` per day on average: 1.
    public static let frequentBatchingPerDay = 1.0
    /// Pool warnings are chronic when they occur on this share of the period's days: every day.
    public static let chronicPoolShare = 1.0
}

/// The health verdict of a period.
public enum HealthVerdict: String, Sendable, CaseIterable {
    /// No events at all.
    case quiet
    /// Success rate at least 98%, no failure, nothing open past an hour.
    case excellent
    /// Success rate at least 95%, no failure, nothing open past an hour.
    case good
    /// Success rate below 95%, or a failure since recovered, or an incident open past an hour.
    case attention
    /// Success rate below 80%, or a failure still unresolved.
    case critical

    /// Words for the reader.
    public var headline: String {
        switch self {
        case .quiet: "Quiet"
        case .excellent: "Excellent"
        case .good: "Good"
        case .attention: "Needs attention"
        case .critical: "Action required"
        }
    }

    /// A symbol for the text part and subject-free places.
    public var symbol: String {
        switch self {
        case .quiet: "○"
        case .excellent, .good: "✅"
        case .attention: "⚠️"
        case .critical: "❌"
        }
    }

    /// The verdict for the figures and incidents of a period.
    /// - Parameters:
    ///   - figures: the period's figures.
    ///   - incidents: the incidents overlapping the period.
    ///   - asOf: the instant ages are measured to (the end of the period, or now if earlier).
    public static func judge(figures: ReportFigures, incidents: [ReportIncident], asOf: Int64) -> HealthVerdict {
        if figures.events == 0 && figures.actions == 0 && incidents.isEmpty { return .quiet }
        let unresolvedFailure = incidents.contains { $0.state == .failed && $0.resolvedAt == nil }
        let rate = figures.successRate
        if unresolvedFailure { return .critical }
        if let rate, rate < ReportRules.criticalRate { return .critical }
        let anyFailure = figures.failed > 0 || incidents.contains { $0.state == .failed }
        let staleOpen = incidents.contains { $0.state == .open && asOf - $0.openedAt >= ReportRules.staleOpenMs }
        if anyFailure || staleOpen { return .attention }
        if let rate, rate < ReportRules.successTarget { return .attention }
        if let rate, rate < ReportRules.excellentRate { return .good }
        return .excellent
    }
}

/// How a kind's per-day rate moved from last week to this week.
public enum Trend: Sendable, Equatable {
    case increasing, decreasing, stable
    /// Seen this week, never last week (and enough events to tell).
    case new
    /// Fewer than 5 events in the two weeks.
    case tooFewToTell

    /// Words for the reader.
    public var word: String {
        switch self {
        case .increasing: "increasing"
        case .decreasing: "decreasing"
        case .stable: "stable"
        case .new: "new"
        case .tooFewToTell: "too few to tell"
        }
    }

    /// The trend of a kind seen `thisWeek` times this week and `lastWeek` times the week before.
    /// Per-day rates are the counts over `days` (7). Increasing or decreasing when the rates are at least 1 per
    /// day and at least 20% of last week's rate apart, with at least 5 events in the two weeks; with fewer, too
    /// few to tell; with none last week, new; otherwise stable.
    public static func of(thisWeek: Int64, lastWeek: Int64, days: Int = 7) -> Trend {
        guard thisWeek + lastWeek >= ReportRules.trendMinimumEvents else { return .tooFewToTell }
        guard lastWeek > 0 else { return .new }
        let now = Double(thisWeek) / Double(days)
        let before = Double(lastWeek) / Double(days)
        let difference = abs(now - before)
        // A small epsilon keeps exact thresholds (7 of 7 days, 20% exactly) on the changing side.
        guard difference + 1e-9 >= ReportRules.trendAbsolutePerDay,
            difference + 1e-9 >= ReportRules.trendRelative * before
        else { return .stable }
        return now > before ? .increasing : .decreasing
    }
}

/// One kind's trend line in a weekly report.
public struct KindTrend: Sendable, Equatable {
    /// The kind.
    public var kind: String
    /// Its count this week and the week before.
    public var thisWeek: Int64
    public var lastWeek: Int64
    /// The verdict.
    public var trend: Trend
}

/// A recommendation derived from the data, with the rule that made it.
public struct Recommendation: Sendable, Equatable {
    /// Which rule fired.
    public enum Rule: String, Sendable {
        case invalidTransitions, frequentBatching, chronicPoolWarnings, failures, silentRecoveries, belowTarget,
            allClear
    }

    /// Which rule fired.
    public var rule: Rule
    /// The sentence for the reader.
    public var text: String

    /// The recommendations for a period's figures and kinds (weekly reports).
    /// - transition.blocked at least once: a code bug to review.
    /// - timeout.prevented at least once per day on average: raise the batch size or move the job to the background.
    /// - pool.warning or pool.critical incidents on every day of the period: look at the queries holding connections.
    /// - failed incidents: a person must look at them.
    /// - expired incidents: their healing code sends no recover event, so their outcome and recovery time are
    ///   unknown.
    /// - success rate below the 95% target.
    /// - none of the above: no action needed.
    public static func derive(figures: ReportFigures, kinds: [KindCount], days: Int) -> [Recommendation] {
        var result: [Recommendation] = []
        let byKind = Dictionary(kinds.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
        let blocked = figures.preventedByKind["transition.blocked"] ?? 0
        if blocked > 0 {
            result.append(
                Recommendation(
                    rule: .invalidTransitions,
                    text:
                        "\(ReportFormat.count(blocked)) invalid status \(blocked == 1 ? "transition was" : "transitions were") "
                        + "blocked: data stayed intact, but code tried \(blocked == 1 ? "it" : "them"). Review the code that "
                        + "changes those statuses."
                )
            )
        }
        let batching = figures.preventedByKind["timeout.prevented"] ?? 0
        if days > 0, Double(batching) / Double(days) >= ReportRules.frequentBatchingPerDay {
            result.append(
                Recommendation(
                    rule: .frequentBatching,
                    text: "Auto-batching prevented \(ReportFormat.count(batching)) timeouts "
                        + "(\(ReportFormat.perDay(batching, days: days)) per day): raise the batch size "
                        + "or move the job to the background."
                )
            )
        }
        let poolDays = max(byKind["pool.warning"]?.daysSeen ?? 0, byKind["pool.critical"]?.daysSeen ?? 0)
        if days > 0, Double(poolDays) >= ReportRules.chronicPoolShare * Double(days) {
            result.append(
                Recommendation(
                    rule: .chronicPoolWarnings,
                    text: "The connection pool ran hot on \(days == 1 ? "the day" : "every day"): look at the queries "
                        + "that hold connections longest, or raise the pool size."
                )
            )
        }
        if figures.failed > 0 {
            result.append(
                Recommendation(
                    rule: .failures,
                    text: "\(ReportFormat.count(figures.failed)) \(figures.failed == 1 ? "incident" : "incidents") "
                        + "failed to heal: look at \(figures.failed == 1 ? "it" : "them") under “Failed, still open or gone quiet” "
                        + "and fix the cause."
                )
            )
        }
        if figures.expired > 0 {
            result.append(
                Recommendation(
                    rule: .silentRecoveries,
                    text: "\(ReportFormat.count(figures.expired)) \(figures.expired == 1 ? "incident" : "incidents") "
                        + "went quiet without a recovery signal: their outcome and recovery time are unknown. Have "
                        + "the code that heals them send a recover event (recovery.succeeded, pool.recovered...)."
                )
            )
        }
        if let rate = figures.successRate, rate < ReportRules.successTarget {
            result.append(
                Recommendation(
                    rule: .belowTarget,
                    text: "The success rate \(ReportFormat.percent(rate)) is below the "
                        + "\(Int((ReportRules.successTarget * 100).rounded()))% target: see which kinds failed."
                )
            )
        }
        if result.isEmpty {
            result.append(
                Recommendation(rule: .allClear, text: "No action needed: self-healing handled everything.")
            )
        }
        return result
    }
}
