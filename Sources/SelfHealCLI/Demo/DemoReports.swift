import ArgumentParser
import Foundation
import SelfHealReports

extension DemoCommand {
    /// Writes the daily report of 2025-11-25 and the weekly report of week 47 (against week 46), as of the end
    /// of their periods, so the ages of open incidents read as they would have that night.
    func writeReports(directory: String, common: [String]) async throws {
        guard let utc = TimeZone(identifier: "UTC"), let day = ReportPeriod.day("2025-11-25", zone: utc),
            let week = ReportPeriod.week("2025-W47", zone: utc)
        else { throw CLIError("the demo's report periods are invalid") }
        let store = try LocationOptions.parse(["--data-dir", directory]).openStore()
        let templates = try ReportTemplates(directory: nil)
        let output = directory + "/reports"
        say("\n4. The daily report of 2025-11-25 and the weekly report of week 47, ready to send:\n")
        var paths: [String] = []
        for (period, isDaily) in [(day, true), (week, false)] {
            let input = try ReportInput.load(from: store, period: period, generatedAt: period.until)
            let report = isDaily ? Report.daily(input) : Report.weekly(input)
            let rendered = try ReportRenderer.render(report, templates: templates, mail: MailSettings.defaults())
            let eml = try ReportFiles.write(rendered, to: output)
            paths.append(eml)
            say("   \(eml)")
        }
        if let daily = paths.first {
            let text = (daily as NSString).deletingPathExtension + ".txt"
            if let summary = try? String(contentsOfFile: text, encoding: .utf8) {
                say("\n   The daily report's text part, as a mail client shows it:\n")
                for line in summary.split(separator: "\n", omittingEmptySubsequences: false).prefix(40) {
                    say("   | \(line)")
                }
            }
            say("\n   Open the .html files in a browser; send a report with: sendmail -t -oi < \(daily)")
        }
    }
}
