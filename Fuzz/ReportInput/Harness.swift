// libFuzzer harness: hostile input in a report (Sources/SelfHealReports and reports/*.mustache), compiled into
// the harness by scripts/fuzz.sh. The input is split at NUL bytes into a service, a message and a component,
// which become an open incident of the day; the day's report is rendered as text, HTML, mail and JSON. The HTML never holds a
// field with markup characters verbatim (it must be escaped), the mail's header never holds a line that is not
// a header (no injection through a name), and the JSON parses.
import Foundation
import SelfHealEvents
import SelfHealStore

private let templates = try! ReportTemplates.builtIn()
private let zone = TimeZone(identifier: "Europe/Paris")!
private let day = ReportPeriod.day("2025-11-25", zone: zone)!
private let mail = MailSettings(from: "selfheal <selfheal@example.com>", to: ["ops@example.com"], domain: "example.com")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReportInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let parts = UnsafeBufferPointer(start: data, count: size).split(separator: 0, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    let service = parts.count > 0 ? parts[0] : ""
    let message = parts.count > 1 ? parts[1] : ""
    let component = parts.count > 2 ? parts[2] : "db-pool"
    let output = render(service: service, message: message, component: component)
    // Escaped, the fields add no markup: the HTML has as many '<' and '>' as with the markup characters removed.
    let plain = { (text: String) in String(text.unicodeScalars.filter { !"<>&\"'".unicodeScalars.contains($0) }) }
    let reference = render(service: plain(service), message: plain(message), component: plain(component))
    for mark in ["<", ">"] {
        let count = output.html.components(separatedBy: mark).count
        let expected = reference.html.components(separatedBy: mark).count
        if count != expected {
            fatalError("the fields added \(count - expected) '\(mark)' to the HTML: \(service.debugDescription)")
        }
    }
    let eml = String(decoding: output.eml, as: UTF8.self)
    let head = eml.components(separatedBy: "\r\n\r\n").first ?? ""
    for line in head.components(separatedBy: "\r\n") {
        let folded = line.first == " " || line.first == "\t"
        let name = line.prefix { $0 != ":" }
        let header =
            !name.isEmpty && line.dropFirst(name.count).hasPrefix(": ")
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        if !folded && !header {
            fatalError("the mail's header holds a line that is no header: \(line.debugDescription)")
        }
    }
    if head.contains("\n") && head.replacingOccurrences(of: "\r\n", with: "").contains("\n") {
        fatalError("a bare LF in the mail's header")
    }
    guard (try? JSONSerialization.jsonObject(with: Data(output.json.utf8))) != nil else {
        fatalError("the JSON does not parse: \(output.json.prefix(200))")
    }
    return 0
}

/// The day's report with one open incident of these fields, as ReportRenderer.render makes it, less the chart
/// (counts only, and most of the time of a run).
private func render(service: String, message: String, component: String) -> (html: String, eml: [UInt8], json: String) {
    let incident = ReportIncident(
        id: 1,
        service: service,
        component: component,
        kind: "pool.warning",
        title: "pool.warning on \(component): \(message)",
        state: .open,
        peakLevel: .critical,
        openedAt: day.since + 3_600_000,
        eventCount: 2
    )
    let input = ReportInput.assemble(
        period: day,
        figures: ReportFigures(events: 2, preventedByKind: [:], resolved: 0, failed: 0, open: 1, recoveryTimes: []),
        incidents: [incident],
        preventedTimes: [:],
        generatedAt: day.until + 3_600_000
    )
    let report = Report.daily(input)
    let context = ReportContext.make(report, chartSource: nil, generator: ReportRenderer.generator)
    let text = templates.render("report.txt", context)
    let html = templates.render("report.html", context)
    let mailMessage = MailMessage(
        from: mail.from,
        to: mail.to,
        subject: report.subject,
        date: input.generatedAt,
        zone: zone,
        messageID: "\(report.fileStem).\(input.generatedAt)@\(mail.domain)",
        extraHeaders: [("X-Selfheal-Report", report.fileStem)],
        text: text,
        html: html,
        images: []
    )
    return (html, mailMessage.render(), ReportRenderer.json(report))
}
