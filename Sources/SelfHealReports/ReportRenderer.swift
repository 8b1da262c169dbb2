import Foundation
import SelfHealEvents
import SelfHealStore

/// Who mails are from and to, and the domain of their `Message-ID`s.
public struct MailSettings: Sendable {
    /// `From`.
    public var from: String
    /// `To`.
    public var to: [String]
    /// The right-hand side of `Message-ID`s.
    public var domain: String

    /// Creates settings.
    public init(from: String, to: [String], domain: String) {
        self.from = from
        self.to = to
        self.domain = domain
    }

    /// `selfheal <selfheal@HOST>` to `root@HOST`, or `SELFHEAL_MAIL_FROM` and `SELFHEAL_MAIL_TO` (comma-separated)
    /// from the environment.
    public static func defaults(environment: [String: String] = ProcessInfo.processInfo.environment) -> MailSettings {
        var host = ProcessInfo.processInfo.hostName
        if host.isEmpty || host == "localhost" { host = "localhost.localdomain" }
        let from = environment["SELFHEAL_MAIL_FROM"] ?? "selfheal <selfheal@\(host)>"
        let to =
            environment["SELFHEAL_MAIL_TO"].map {
                $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            } ?? ["root@\(host)"]
        return MailSettings(from: from, to: to, domain: host)
    }
}

/// A report in all its forms.
public struct RenderedReport: Sendable {
    /// `selfheal-daily-2025-11-25`.
    public var fileStem: String
    /// The plain text part.
    public var text: String
    /// The HTML as a file (the chart by file name, beside it).
    public var html: String
    /// The figures as JSON.
    public var json: String
    /// The mail, CRLF.
    public var eml: [UInt8]
    /// The chart, when the period had actions.
    public var chart: [UInt8]?
}

/// Renders reports: text and HTML from the templates, the JSON, the chart and the mail.
public enum ReportRenderer {
    /// The program named in the footer.
    public static let generator = "selfheal \(SelfHealVersion.current)"

    /// Renders every form of a report.
    public static func render(
        _ report: Report,
        templates: ReportTemplates,
        mail: MailSettings
    ) throws(ReportError) -> RenderedReport {
        let chart: [UInt8]?
        do {
            chart = try ChartRenderer.png(report)
        } catch {
            throw ReportError(.encoding, "cannot encode the chart: \(error)")
        }
        let stem = report.fileStem
        let contentID = "chart.\(stem)@\(mail.domain)"
        let text = templates.render("report.txt", ReportContext.make(report, chartSource: nil, generator: generator))
        let html = templates.render(
            "report.html",
            ReportContext.make(report, chartSource: chart.map { _ in "\(stem).png" }, generator: generator)
        )
        let mailHTML = templates.render(
            "report.html",
            ReportContext.make(report, chartSource: chart.map { _ in "cid:\(contentID)" }, generator: generator)
        )
        let message = MailMessage(
            from: mail.from,
            to: mail.to,
            subject: report.subject,
            date: report.input.generatedAt,
            zone: report.input.period.zone,
            messageID: "\(stem).\(report.input.generatedAt)@\(mail.domain)",
            extraHeaders: [("X-Selfheal-Report", stem)],
            text: text,
            html: mailHTML,
            images: chart.map { [InlineImage(contentID: contentID, filename: "\(stem).png", data: $0)] } ?? []
        )
        return RenderedReport(
            fileStem: stem,
            text: text,
            html: html,
            json: json(report),
            eml: message.render(),
            chart: chart
        )
    }

    /// The report's JSON: the figures under `totals` with the definitions of `selfheal stats`, and the rest.
    public static func json(_ report: Report) -> String {
        let figures = report.figures
        let period = report.input.period
        var json = JSONText()
        json.string("report", report.kind.rawValue)
        json.string("period", period.label)
        json.string("subject", report.subject)
        json.string("since", Timestamp.formatRFC3339(period.since))
        json.string("until", Timestamp.formatRFC3339(period.until))
        json.string("tz", period.zone.identifier)
        json.string("generated_at", Timestamp.formatRFC3339(report.input.generatedAt))
        json.string("as_of", Timestamp.formatRFC3339(report.input.generatedAt))
        var totals = JSONText()
        totals.number("actions", figures.actions)
        totals.number("prevented", figures.prevented)
        totals.number("auto_recovered", figures.resolved)
        totals.number("failed", figures.failed)
        totals.number("open", figures.open)
        totals.number("expired", figures.expired)
        totals.number("success_rate", figures.successRate)
        totals.integer("mttr_ms", figures.mttrMs)
        totals.integer("p50_recovery_ms", figures.recoveryPercentile(50))
        totals.integer("p95_recovery_ms", figures.recoveryPercentile(95))
        totals.number("events", figures.events)
        totals.number("incidents", figures.incidents)
        json.raw("totals", totals.finish())
        var byKind = JSONText()
        for kind in figures.preventedByKind.keys.sorted() { byKind.number(kind, figures.preventedByKind[kind] ?? 0) }
        json.raw("prevented_by_kind", byKind.finish())
        var verdict = JSONText()
        verdict.string("status", report.verdict.rawValue)
        verdict.string("headline", report.verdict.headline)
        verdict.string("reason", report.verdictReason)
        json.raw("verdict", verdict.finish())
        json.string("summary", report.summary)
        json.raw(
            "top_issues",
            JSONText.array(
                report.topIssues.map { count in
                    var item = JSONText()
                    item.string("kind", count.kind)
                    item.number("count", count.count)
                    item.number("self_healed", count.selfHealed)
                    item.number("failed", count.failed)
                    return item.finish()
                }
            )
        )
        json.raw("attention", JSONText.array(report.attention.map(\.json)))
        var chart = JSONText()
        chart.string("unit", report.kind == .daily ? "hour" : "day")
        chart.raw(
            "buckets",
            JSONText.array(
                report.input.buckets.map { bucket in
                    var item = JSONText()
                    item.string("start", Timestamp.formatRFC3339(bucket.start))
                    item.number("prevented", bucket.prevented)
                    item.number("auto_recovered", bucket.autoRecovered)
                    item.number("failed", bucket.failed)
                    item.number("open", bucket.open)
                    item.number("expired", bucket.expired)
                    return item.finish()
                }
            )
        )
        json.raw("chart", chart.finish())
        if report.kind == .weekly {
            json.raw(
                "trends",
                JSONText.array(
                    report.trends.map { trend in
                        var item = JSONText()
                        item.string("kind", trend.kind)
                        item.number("last_week", trend.lastWeek)
                        item.number("this_week", trend.thisWeek)
                        item.number("last_week_per_day", Double(trend.lastWeek) / Double(period.days))
                        item.number("this_week_per_day", Double(trend.thisWeek) / Double(period.days))
                        item.string("trend", trend.trend.word)
                        return item.finish()
                    }
                )
            )
            json.raw(
                "recommendations",
                JSONText.array(
                    report.recommendations.map { recommendation in
                        var item = JSONText()
                        item.string("rule", recommendation.rule.rawValue)
                        item.string("text", recommendation.text)
                        return item.finish()
                    }
                )
            )
        }
        return json.finish()
    }
}
