import ArgumentParser
import Foundation
import SelfHealEvents
import SelfHealReports
import SelfHealStore

struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "Write one alert mail per incident that reached critical or failure, or failed; never twice.",
        discussion: """
            Looks at the incidents whose life overlaps [since, until). Subjects: [AUTO-RESOLVED] ... - System \
            Self-Healed, [FAILURE] ... - Manual Intervention Required, [OPEN] ..., [RECOVERED] ...; the mails of \
            one incident make one thread. DIR/alerts-sent.tsv (DIR/alerts-sent-fleet.tsv with --store: the fleet's \
            incidents have their own ids) remembers what was written and sent: a rerun over \
            the same range writes nothing new, a later FAILURE of an incident alerted OPEN is a new mail, and \
            --send sends what an earlier run wrote without sending. Prints each .eml path.

            Examples:
              selfheal alerts --since -1h
              selfheal alerts --since 2025-11-25 --until 2025-11-26 --out alerts
              selfheal alerts --since -15m --send --to oncall@example.com
            """
    )

    @OptionGroup var location: LocationOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var range: RangeOptions
    @OptionGroup var mail: MailOptions

    func run() async throws {
        try await reportingErrors {
            let (since, until, asOf) = try range.range()
            let reader = try store.open(location)
            let incidents = try ReportInput.incidents(reader, since: since, until: until, asOf: asOf)
            let run = AlertRun(
                templates: try mail.loadTemplates(),
                mail: mail.settings,
                zone: try range.zone(),
                outputDirectory: mail.outputDirectory(location),
                sendmail: try mail.sendmailProgram()
            )
            var ledger = try AlertLedger(
                path: (location.dataDirectory as NSString).appendingPathComponent(
                    store.isFleet ? "alerts-sent-fleet.tsv" : "alerts-sent.tsv"
                )
            )
            let outputs = try run.run(incidents: incidents, ledger: &ledger, now: asOf)
            for output in outputs { print(output.path) }
            if outputs.isEmpty { printError("no new alerts in this range") }
        }
    }
}
