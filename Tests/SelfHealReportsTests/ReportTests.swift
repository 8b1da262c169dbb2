import Foundation
import SelfHealEvents
import SelfHealStore
import Testing

@testable import SelfHealReports

@Suite("Reports")
struct ReportTests {
    let templates = try! ReportTemplates.builtIn()

    func rendered(_ report: Report) throws -> RenderedReport {
        try ReportRenderer.render(report, templates: templates, mail: Fixtures.mail)
    }

    /// The figures as the text, HTML and JSON must state them (SPEC section 5, by hand for the fixture day).
    static let expected: [(label: String, value: String, json: String, number: Double?)] = [
        ("Total self-healing actions", "21", "actions", 21),
        ("Issues prevented", "15", "prevented", 15),
        ("Auto-recoveries", "3", "auto_recovered", 3),
        ("Failures", "1", "failed", 1),
        ("Still open", "1", "open", 1),
        ("Went quiet", "1", "expired", 1),
        ("Success rate", "94.7% (18 of 19)", "success_rate", 18.0 / 19.0),
        ("MTTR", "2.5 s", "mttr_ms", 2_500),
    ]

    @Test func figuresFollowSection5() {
        let figures = Fixtures.dayFigures
        #expect(figures.actions == 21)
        #expect(figures.successRate == 18.0 / 19.0)
        #expect(figures.mttrMs == 2_500)
        #expect(figures.recoveryPercentile(50) == 2_500)
        #expect(figures.recoveryPercentile(95) == 4_200)
    }

    @Test func textHTMLAndJSONStateTheSameFigures() throws {
        let output = try rendered(Report.daily(Fixtures.dayInput))
        let textLines = output.text.split(separator: "\n").map(String.init)
        for row in Self.expected {
            let line = textLines.first { $0.hasPrefix("  \(row.label) ") }
            #expect(line?.hasSuffix(" \(row.value)") == true, "text: \(row.label) \(line ?? "missing")")
            let html = output.html
            let label = try #require(html.range(of: ">\(row.label)</td>"), "html: \(row.label)")
            let after = html[label.upperBound...].prefix(400)
            #expect(after.contains(">\(row.value)<"), "html: \(row.label) should show \(row.value)")
        }
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(output.json.utf8)) as? [String: Any]
        )
        let totals = try #require(json["totals"] as? [String: Any])
        for row in Self.expected {
            let value = try #require(totals[row.json] as? NSNumber, "json: \(row.json)")
            #expect(abs(value.doubleValue - row.number!) < 1e-12, "json: \(row.json)")
        }
        // The same text `selfheal stats` writes for the rate: the shortest decimal that reads back exactly.
        #expect(output.json.contains("\"success_rate\":\(18.0 / 19.0)"))
        #expect((totals["p95_recovery_ms"] as? NSNumber)?.int64Value == 4_200)
        #expect(output.text.contains("p50 2.5 s, p95 4.2 s"))
        #expect(output.html.contains("p50 2.5 s, p95 4.2 s"))
    }

    @Test func dailyReportNamesTopIssuesAndEveryFailedOrOpenIncident() throws {
        let report = Report.daily(Fixtures.dayInput)
        #expect(report.topIssues.map(\.kind).prefix(3) == ["timeout.prevented", "transition.blocked", "pool.warning"])
        #expect(report.attention.map(\.id) == [1, 5, 6, 7])
        #expect(report.verdict == .critical)
        let output = try rendered(report)
        #expect(output.text.contains("3. Connection pool warnings: 2 (all auto-recovered)"))
        #expect(output.text.contains("#5 [FAILED] response.invalid on openai: HTML instead of JSON"))
        #expect(output.text.contains("opened 16:00, 15 h unresolved"))
        #expect(output.text.contains("#7 [EXPIRED] Timeouts on smtp-relay: no answer in 30 s"))
        #expect(output.text.contains("went quiet without a recovery signal (nothing heard after 11:05)"))
        #expect(output.html.contains("went quiet without a recovery signal (nothing heard after 11:05)"))
        #expect(output.json.contains(#""state":"expired""#))
        #expect(output.text.contains("opened Nov 24 21:00, 1 d 10 h unresolved"))
        #expect(output.subjectLine == "Self-Healing System Report - November 25, 2025")
    }

    @Test func goldenTextOfAFixedDay() throws {
        let text = try rendered(Report.daily(Fixtures.dayInput)).text
        try Golden.check(text, named: "daily-2025-11-25.txt")
    }

    @Test func goldenTextOfAFixedWeek() throws {
        let text = try rendered(Report.weekly(Fixtures.weekInput)).text
        try Golden.check(text, named: "weekly-2025-W48.txt")
    }

    @Test func aDayWithoutEventsSaysSo() throws {
        let report = Report.daily(Fixtures.emptyDayInput)
        #expect(report.isEmpty)
        #expect(report.verdict == .quiet)
        let output = try rendered(report)
        #expect(output.chart == nil)
        #expect(output.text.contains("No self-healing events were recorded this day"))
        #expect(output.html.contains("No self-healing events were recorded this day"))
        #expect(!output.html.contains("<img"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(output.json.utf8)) as? [String: Any])
        let totals = try #require(json["totals"] as? [String: Any])
        #expect(totals["success_rate"] is NSNull)
        #expect(totals["mttr_ms"] is NSNull)
        #expect((totals["actions"] as? NSNumber)?.intValue == 0)
    }

    @Test func periodsFollowTheTimeZone() throws {
        let day = try #require(ReportPeriod.day("2025-11-25", zone: Fixtures.paris))
        #expect(day.since == Timestamp.parseRFC3339("2025-11-24T23:00:00Z"))
        #expect(day.until == Timestamp.parseRFC3339("2025-11-25T23:00:00Z"))
        #expect(day.bucketStarts.count == 24)
        // The day clocks go back has 25 hours, the day they go forward 23.
        #expect(ReportPeriod.day("2025-10-26", zone: Fixtures.paris)?.bucketStarts.count == 25)
        #expect(ReportPeriod.day("2025-03-30", zone: Fixtures.paris)?.bucketStarts.count == 23)
        let week = try #require(ReportPeriod.week("2025-W48", zone: Fixtures.paris))
        #expect(week.since == Timestamp.parseRFC3339("2025-11-24T00:00:00+01:00"))
        #expect(week.until == Timestamp.parseRFC3339("2025-12-01T00:00:00+01:00"))
        #expect(week.title == "Week 48, 2025")
        #expect(week.previous.label == "2025-W47")
        #expect(ReportPeriod.week("2026-W01", zone: .gmt)?.since == Timestamp.parseRFC3339("2025-12-29T00:00:00Z"))
        #expect(ReportPeriod.week("2025-W53", zone: .gmt) == nil)
        #expect(ReportPeriod.day("2025-02-29", zone: .gmt) == nil)
        let tokyo = try #require(ReportPeriod.day("2025-11-25", zone: TimeZone(identifier: "Asia/Tokyo")!))
        #expect(tokyo.since == Timestamp.parseRFC3339("2025-11-24T15:00:00Z"))
    }

    @Test func chartBucketsSplitByOutcome() {
        let buckets = Fixtures.dayInput.buckets
        #expect(buckets.count == 24)
        #expect(buckets[9] == ChartBucket(start: buckets[9].start, prevented: 5, autoRecovered: 2))
        #expect(buckets[16].failed == 1)
        #expect(buckets[22].open == 1)
        #expect(buckets[11].expired == 1)
        #expect(buckets.map(\.total).reduce(0, +) == 21)
    }

    @Test func weeklyReportHasTrendsAndRecommendations() throws {
        let report = Report.weekly(Fixtures.weekInput)
        let pool = try #require(report.trends.first { $0.kind == "pool.warning" })
        #expect(pool.thisWeek == 7 && pool.lastWeek == 21 && pool.trend == .decreasing)
        let batching = try #require(report.trends.first { $0.kind == "timeout.prevented" })
        #expect(batching.trend == .stable)
        #expect(report.trends.first { $0.kind == "transition.blocked" }?.trend == .tooFewToTell)
        #expect(
            report.recommendations.map(\.rule) == [.invalidTransitions, .frequentBatching, .chronicPoolWarnings]
        )
        let output = try rendered(report)
        #expect(output.subjectLine == "Self-Healing System Weekly Report - Week 48, 2025")
        #expect(output.text.contains("Connection pool warnings: Decreasing (3 -> 1 per day; 21 -> 7)"))
        #expect(output.html.contains("raise the batch size or move the job to the background"))
        #expect(output.fileStem == "selfheal-weekly-2025-W48")
    }

    @Test func templatesFromADirectoryReplaceTheDefaults() throws {
        let directory = try TemporaryDirectory()
        try "{{% CONTENT_TYPE: TEXT}}\nCustom: {{figures.actions}} actions\n".write(
            toFile: directory.path + "/report.txt.mustache",
            atomically: true,
            encoding: .utf8
        )
        let custom = try ReportTemplates(directory: directory.path)
        #expect(custom.sources["report.txt"] == directory.path + "/report.txt.mustache")
        #expect(custom.sources["report.html"] == "built-in")
        let output = try ReportRenderer.render(Report.daily(Fixtures.dayInput), templates: custom, mail: Fixtures.mail)
        #expect(output.text == "Custom: 21 actions\n")
    }

    @Test func filesAreWrittenWithTheirNames() throws {
        let directory = try TemporaryDirectory()
        let output = try rendered(Report.daily(Fixtures.dayInput))
        let eml = try ReportFiles.write(output, to: directory.path + "/reports")
        #expect(eml == directory.path + "/reports/selfheal-daily-2025-11-25.eml")
        for ext in ["eml", "html", "txt", "json", "png"] {
            #expect(
                FileManager.default.fileExists(atPath: directory.path + "/reports/selfheal-daily-2025-11-25.\(ext)")
            )
        }
    }
}

extension RenderedReport {
    /// The Subject header as the parser reads it back.
    var subjectLine: String? {
        var parser = StrictMIMEParser()
        let message = parser.parse(eml)
        return message.header("Subject").map { parser.decodeHeader($0) }
    }
}

/// Golden files under `Golden/`; `SELFHEAL_UPDATE_GOLDEN=1` rewrites them.
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static func check(_ actual: String, named name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = directory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["SELFHEAL_UPDATE_GOLDEN"] == "1" {
            try actual.write(to: url, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(actual == expected, "differs from Golden/\(name)", sourceLocation: sourceLocation)
    }
}

/// A directory removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "selfheal-reports-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// `SELFHEAL_SAMPLE_DIR=DIR swift test --filter SampleReports` writes the fixture reports and alerts there, for
/// `scripts/screenshot-reports.sh` to look at as a reader would.
@Suite("Sample reports")
struct SampleReports {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SELFHEAL_SAMPLE_DIR"] != nil))
    func writeSamples() throws {
        let directory = ProcessInfo.processInfo.environment["SELFHEAL_SAMPLE_DIR"]!
        let templates = try ReportTemplates.builtIn()
        for report in [Report.daily(Fixtures.dayInput), Report.weekly(Fixtures.weekInput)] {
            try ReportFiles.write(
                try ReportRenderer.render(report, templates: templates, mail: Fixtures.mail),
                to: directory
            )
        }
        var empty = try ReportRenderer.render(
            Report.daily(Fixtures.emptyDayInput),
            templates: templates,
            mail: Fixtures.mail
        )
        empty.fileStem = "selfheal-daily-empty"
        try ReportFiles.write(empty, to: directory)
        let ledger = try AlertLedger(path: directory + "/alerts-sent.tsv")
        for incident in Fixtures.dayIncidents {
            guard let status = AlertStatus.of(incident) else { continue }
            let message = AlertMail.message(
                incident,
                status: status,
                earlier: ledger.messageIDs(incident),
                templates: templates,
                mail: Fixtures.mail,
                zone: Fixtures.paris,
                now: Fixtures.generatedAt
            )
            try Data(message.html.utf8).write(
                to: URL(fileURLWithPath: directory + "/selfheal-alert-\(incident.id)-\(status.rawValue).html")
            )
        }
    }
}
