import Foundation
import SelfHealEvents
import SelfHealStore

/// The colours of the reports, one per outcome and verdict: set on every cell, so dark mode cannot invert them.
public enum ReportPalette {
    public static let prevented = RGB(0x2E, 0x7D, 0x32)
    public static let autoRecovered = RGB(0x15, 0x65, 0xC0)
    public static let failed = RGB(0xC6, 0x28, 0x28)
    public static let open = RGB(0xEF, 0x6C, 0x00)
    public static let expired = RGB(0x78, 0x90, 0x9C)
    public static let ink = RGB(0x1F, 0x29, 0x33)
    public static let muted = RGB(0x5F, 0x6B, 0x7A)
    public static let grid = RGB(0xE3, 0xE8, 0xEE)
    public static let paper = RGB(0xFF, 0xFF, 0xFF)

    static func verdict(_ verdict: HealthVerdict) -> (ink: String, background: String) {
        switch verdict {
        case .quiet: ("#37474f", "#eceff1")
        case .excellent, .good: ("#1b5e20", "#e8f5e9")
        case .attention: ("#8a4b00", "#fff3e0")
        case .critical: ("#b71c1c", "#ffebee")
        }
    }

    static func state(_ state: IncidentState) -> String {
        switch state {
        case .open: open.hex
        case .resolved: autoRecovered.hex
        case .failed: failed.hex
        case .expired: expired.hex
        }
    }
}

/// What the templates see: plain dictionaries, arrays and strings, named as in the templates of `reports/`.
enum ReportContext {
    /// The context of a report. `chartSource` is the chart's `src` (`cid:...` in a mail, a file name beside an
    /// HTML file), nil when there is no chart.
    static func make(_ report: Report, chartSource: String?, generator: String) -> [String: Any] {
        let figures = report.figures
        let zone = report.input.period.zone
        let colours = ReportPalette.verdict(report.verdict)
        var context: [String: Any] = [
            "subject": report.subject,
            "title": report.kind == .daily ? "Self-Healing System Report" : "Self-Healing System Weekly Report",
            "periodTitle": report.input.period.title,
            "periodRange": periodRange(report.input.period),
            "zone": zone.identifier,
            "generated": ReportFormat.rfc5322(report.input.generatedAt, zone: zone),
            "generator": generator,
            "isEmpty": report.isEmpty,
            "notEmpty": !report.isEmpty,
            "daily": report.kind == .daily,
            "weekly": report.kind == .weekly,
            "summary": report.summary,
            "verdict": [
                "headline": report.verdict.headline, "symbol": report.verdict.symbol, "reason": report.verdictReason,
                "ink": colours.ink, "background": colours.background,
            ],
        ]
        if let head = report.input.chainHead { context["chainHead"] = ["seq": String(head.seq), "hash": head.hash] }
        let totals: [(String, String, String, String)] = [
            (
                "Total self-healing actions", ReportFormat.count(figures.actions), "prevented + incidents",
                ReportPalette.ink.hex
            ),
            (
                "Issues prevented", ReportFormat.count(figures.prevented), "stopped before they happened",
                ReportPalette.prevented.hex
            ),
            (
                "Auto-recoveries", ReportFormat.count(figures.resolved), "incidents that healed themselves",
                ReportPalette.autoRecovered.hex
            ),
            ("Failures", ReportFormat.count(figures.failed), "self-healing gave up", ReportPalette.failed.hex),
            ("Still open", ReportFormat.count(figures.open), "not decided yet", ReportPalette.open.hex),
            (
                "Went quiet", ReportFormat.count(figures.expired), "no recovery signal: outcome unknown",
                ReportPalette.expired.hex
            ),
            (
                "Success rate", ReportFormat.successRate(figures), "(prevented + recovered) of decided",
                ReportPalette.ink.hex
            ),
            ("MTTR", ReportFormat.duration(figures.mttrMs), mttrDetail(figures), ReportPalette.ink.hex),
        ]
        context["totals"] = totals.map { label, value, detail, colour in
            ["label": label, "value": value, "detail": detail, "colour": colour, "textLabel": label.padded(to: 29)]
        }
        context["figures"] = [
            "actions": ReportFormat.count(figures.actions), "prevented": ReportFormat.count(figures.prevented),
            "autoRecovered": ReportFormat.count(figures.resolved), "failed": ReportFormat.count(figures.failed),
            "open": ReportFormat.count(figures.open), "expired": ReportFormat.count(figures.expired),
            "successRate": figures.successRate.map { ReportFormat.percent($0) } ?? "n/a",
            "successCounts": ReportFormat.successRate(figures),
            "mttr": ReportFormat.duration(figures.mttrMs),
            "p50": ReportFormat.duration(figures.recoveryPercentile(50)),
            "p95": ReportFormat.duration(figures.recoveryPercentile(95)),
        ]
        context["topIssues"] = report.topIssues.enumerated().map { index, count in
            [
                "rank": "\(index + 1)", "name": ReportFormat.kindName(count.kind), "kind": count.kind,
                "count": ReportFormat.count(count.count), "healed": ReportFormat.healedPhrase(count),
            ]
        }
        context["hasTopIssues"] = !report.topIssues.isEmpty
        context["attention"] = report.attention.map { incident in incidentContext(incident, report: report) }
        context["hasAttention"] = !report.attention.isEmpty
        if let busiest = report.busiest {
            let end = report.input.period.kind == .daily ? busiest.start + 3_600_000 : nil
            let when =
                end.map { "\(ReportFormat.time(busiest.start, zone: zone))-\(ReportFormat.time($0, zone: zone))" }
                ?? ReportFormat.weekday(busiest.start, zone: zone)
            context["busiest"] = "\(when) (\(ReportFormat.count(Int64(busiest.total))) actions)"
            context["busiestLabel"] = (report.kind == .daily ? "Busiest hour" : "Busiest day").padded(to: 29)
            context["hasBusiest"] = true
        }
        if let chartSource {
            context["chart"] = [
                "src": chartSource,
                "alt": chartAlt(report),
                "width": "\(ChartRenderer.displayWidth)",
            ]
        }
        context["legend"] = [
            ["label": "Prevented", "colour": ReportPalette.prevented.hex],
            ["label": "Auto-recovered", "colour": ReportPalette.autoRecovered.hex],
            ["label": "Failed", "colour": ReportPalette.failed.hex],
            ["label": "Open", "colour": ReportPalette.open.hex],
            ["label": "Went quiet", "colour": ReportPalette.expired.hex],
        ]
        context["trends"] = report.trends.map { trend in
            [
                "name": ReportFormat.kindName(trend.kind), "kind": trend.kind,
                "lastWeek": ReportFormat.perDay(trend.lastWeek, days: report.input.period.days),
                "thisWeek": ReportFormat.perDay(trend.thisWeek, days: report.input.period.days),
                "lastCount": ReportFormat.count(trend.lastWeek), "thisCount": ReportFormat.count(trend.thisWeek),
                "trend": trend.trend.word, "trendTitle": trend.trend.word.capitalizedFirst,
                "colour": trendColour(trend.trend),
            ]
        }
        context["hasTrends"] = !report.trends.isEmpty
        context["recommendations"] = report.recommendations.map { ["text": $0.text, "rule": $0.rule.rawValue] }
        context["hasRecommendations"] = !report.recommendations.isEmpty
        return context
    }

    static func incidentContext(_ incident: ReportIncident, report: Report) -> [String: Any] {
        let zone = report.input.period.zone
        let opened =
            incident.openedAt < report.input.period.since || report.kind == .weekly
            ? ReportFormat.dayTime(incident.openedAt, zone: zone) : ReportFormat.time(incident.openedAt, zone: zone)
        return [
            "id": "\(incident.id)", "title": incident.title, "service": incident.service,
            "component": incident.component, "state": incident.state.rawValue,
            "stateLabel": incident.state.rawValue.uppercased(), "level": incident.peakLevel.name,
            "opened": opened, "age": report.age(of: incident), "colour": ReportPalette.state(incident.state),
            "actions": incident.actions.isEmpty ? "none" : incident.actions.joined(separator: ", "),
            "earlier": incident.openedAt < report.input.period.since,
        ]
    }

    /// `Tue Nov 25, 00:00 to 24:00 (Europe/Paris)` or `Mon Nov 24 to Sun Nov 30 (Europe/Paris)`.
    static func periodRange(_ period: ReportPeriod) -> String {
        let zone = period.zone
        func day(_ millis: Int64) -> String {
            let calendar = Calendar.gregorian(zone)
            let date = Date(millis: millis)
            return "\(ReportFormat.weekdays[calendar.component(.weekday, from: date) - 1]) "
                + "\(ReportFormat.shortMonths[calendar.component(.month, from: date) - 1]) "
                + "\(calendar.component(.day, from: date))"
        }
        switch period.kind {
        case .daily: return "\(day(period.since)), 00:00 to 24:00 (\(zone.identifier))"
        case .weekly: return "\(day(period.since)) to \(day(period.dayStarts[period.days - 1])) (\(zone.identifier))"
        }
    }

    static func mttrDetail(_ figures: ReportFigures) -> String {
        guard let p50 = figures.recoveryPercentile(50), let p95 = figures.recoveryPercentile(95) else {
            return "no recovered incidents"
        }
        return "p50 \(ReportFormat.duration(p50)), p95 \(ReportFormat.duration(p95))"
    }

    static func chartAlt(_ report: Report) -> String {
        let unit = report.kind == .daily ? "hour" : "day"
        let figures = report.figures
        return "Self-healing actions per \(unit): \(ReportFormat.count(figures.prevented)) prevented, "
            + "\(ReportFormat.count(figures.resolved)) auto-recovered, \(ReportFormat.count(figures.failed)) failed, "
            + "\(ReportFormat.count(figures.open)) open, \(ReportFormat.count(figures.expired)) went quiet"
    }

    static func trendColour(_ trend: Trend) -> String {
        switch trend {
        case .increasing: ReportPalette.failed.hex
        case .decreasing: ReportPalette.prevented.hex
        case .stable, .new, .tooFewToTell: ReportPalette.muted.hex
        }
    }
}

extension String {
    func padded(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
