import Foundation
import SelfHealEvents
import SelfHealStore
import Testing

@testable import SelfHealReports

@Suite("Alert mails and sendmail")
struct AlertTests {
    let templates = try! ReportTemplates.builtIn()

    func run(_ directory: TemporaryDirectory, sendmail: Sendmail? = nil) -> AlertRun {
        AlertRun(
            templates: templates,
            mail: Fixtures.mail,
            zone: Fixtures.paris,
            outputDirectory: directory.path + "/out",
            sendmail: sendmail
        )
    }

    @Test func subjectsSayWhatHappened() {
        let incidents = Fixtures.dayIncidents
        #expect(AlertStatus.of(incidents[1]) == .resolved)
        #expect(AlertStatus.of(incidents[2]) == nil)  // peak warning, resolved: no alert
        #expect(AlertStatus.of(incidents[4]) == .failed)
        #expect(AlertStatus.of(incidents[0]) == .open)
        #expect(
            AlertMail.subject(incidents[1], status: .resolved)
                == "[AUTO-RESOLVED] Connection pool warning on db-pool - System Self-Healed"
        )
        #expect(
            AlertMail.subject(incidents[4], status: .failed)
                == "[FAILURE] Invalid response on openai - Manual Intervention Required"
        )
        #expect(AlertMail.subject(incidents[0], status: .open).hasPrefix("[OPEN] Failed health check on health"))
    }

    @Test func alertsAreWrittenOnceAndAFailureJoinsTheThreadOfItsOpenAlert() throws {
        let directory = try TemporaryDirectory()
        let ledgerPath = directory.path + "/alerts-sent.tsv"
        var ledger = try AlertLedger(path: ledgerPath)
        var critical = Fixtures.dayIncidents[1]
        critical.state = .open
        critical.resolvedAt = nil
        let first = try run(directory).run(
            incidents: Fixtures.dayIncidents.filter { $0.id != 2 } + [critical],
            ledger: &ledger,
            now: Fixtures.generatedAt
        )
        #expect(first.map(\.status).sorted { $0.rawValue < $1.rawValue } == [.failed, .open, .open])
        // The same range again: nothing new, even with a fresh ledger read from disk.
        var reread = try AlertLedger(path: ledgerPath)
        #expect(reread.entries.count == 3)
        let again = try run(directory).run(
            incidents: Fixtures.dayIncidents.filter { $0.id != 2 } + [critical],
            ledger: &reread,
            now: Fixtures.generatedAt
        )
        #expect(again.isEmpty)
        // The incident fails later: a new message, in the same thread as its OPEN one.
        critical.state = .failed
        critical.failedAt = critical.openedAt + 5_000
        let later = try run(directory).run(incidents: [critical], ledger: &reread, now: Fixtures.generatedAt + 60_000)
        #expect(later.map(\.status) == [.failed])
        var parser = StrictMIMEParser()
        let failure = parser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: later[0].path))))
        let open = parser.parse(
            Array(try Data(contentsOf: URL(fileURLWithPath: directory.path + "/out/selfheal-alert-2-open.eml")))
        )
        #expect(parser.defects.isEmpty, "\(parser.defects)")
        let thread = "<selfheal-incident-2.\(critical.openedAt)@example.com>"
        #expect(open.header("References") == thread)
        #expect(failure.header("References") == "\(thread) \(open.header("Message-ID")!)")
        #expect(failure.header("In-Reply-To") == open.header("Message-ID"))
        #expect(failure.header("Auto-Submitted") == "auto-generated")
        #expect(
            failure.header("Subject") == "[FAILURE] Connection pool warning on db-pool - Manual Intervention Required"
        )
        #expect(failure.children.map(\.mediaType) == ["text/plain", "text/html"])
        #expect(failure.children[0].text.contains("Circuit breaker opened"))
    }

    /// A fake sendmail that records its arguments and input, exiting with `status`.
    func fakeSendmail(in directory: TemporaryDirectory, status: Int) throws -> String {
        let path = directory.path + "/sendmail"
        let script = """
            #!/bin/sh
            echo "$@" >> '\(directory.path)/args'
            cat >> '\(directory.path)/stdin'
            if [ \(status) -ne 0 ]; then echo "mail queue full" >&2; fi
            exit \(status)

            """
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    @Test func sendPipesTheMessageToSendmailOnce() throws {
        let directory = try TemporaryDirectory()
        let sendmail = try Sendmail(program: try fakeSendmail(in: directory, status: 0))
        var ledger = try AlertLedger(path: directory.path + "/alerts-sent.tsv")
        // Written first without --send, then sent: each message goes to sendmail exactly once.
        _ = try run(directory).run(incidents: Fixtures.dayIncidents, ledger: &ledger, now: Fixtures.generatedAt)
        let sent = try run(directory, sendmail: sendmail).run(
            incidents: Fixtures.dayIncidents,
            ledger: &ledger,
            now: Fixtures.generatedAt
        )
        #expect(sent.count == 3 && sent.allSatisfy(\.sent))
        let again = try run(directory, sendmail: sendmail).run(
            incidents: Fixtures.dayIncidents,
            ledger: &ledger,
            now: Fixtures.generatedAt
        )
        #expect(again.isEmpty)
        let args = try String(contentsOfFile: directory.path + "/args", encoding: .utf8)
        #expect(args == String(repeating: "-t -oi\n", count: 3))
        let input = try Data(contentsOf: URL(fileURLWithPath: directory.path + "/stdin"))
        #expect(input.count > 3_000)
        #expect(
            String(decoding: input, as: UTF8.self).components(separatedBy: "Auto-Submitted: auto-generated").count == 4
        )
    }

    @Test func aFailingSendmailIsAClearError() throws {
        let directory = try TemporaryDirectory()
        let sendmail = try Sendmail(program: try fakeSendmail(in: directory, status: 1))
        let report = try ReportRenderer.render(
            Report.daily(Fixtures.dayInput),
            templates: templates,
            mail: Fixtures.mail
        )
        #expect {
            try sendmail.send(report.eml)
        } throws: { error in
            let message = (error as? ReportError)?.message ?? ""
            return message.contains(directory.path + "/sendmail -t -oi exited with status 1")
                && message.contains("mail queue full")
        }
        // The alert is not recorded as sent, so a rerun tries again.
        var ledger = try AlertLedger(path: directory.path + "/alerts-sent.tsv")
        #expect(throws: ReportError.self) {
            try run(directory, sendmail: sendmail).run(incidents: Fixtures.dayIncidents, ledger: &ledger, now: 0)
        }
        #expect(ledger.entries.isEmpty)
    }

    @Test func aMissingSendmailIsAClearError() {
        #expect {
            try Sendmail(program: "no-such-sendmail-here", environment: ["PATH": "/nonexistent"])
        } throws: { error in
            (error as? ReportError)?.message.contains("cannot find no-such-sendmail-here") == true
        }
    }
}
