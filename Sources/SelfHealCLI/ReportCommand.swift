import ArgumentParser
import Foundation
import SelfHealEvents
import SelfHealReports
import SelfHealStore

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the daily or weekly report: .eml, .html, .txt and .json files, and mail it with --send.",
        discussion: """
            The figures are those of 'selfheal stats' over the period. The files go to --out (default \
            DIR/reports/): selfheal-daily-2025-11-25.{eml,html,txt,json} or selfheal-weekly-2025-W48.{...}, \
            with the chart beside them as .png; the command prints the .eml path. Templates: reports/*.mustache \
            in --templates DIR (env SELFHEAL_TEMPLATES, default ./reports when it holds them), else built-in.

            Examples:
              selfheal report daily --date 2025-11-25 --tz Europe/Paris
              selfheal report daily --send --to ops@example.com
              selfheal report weekly --week 2025-W48 --out /var/reports
            """,
        subcommands: [DailyReportCommand.self, WeeklyReportCommand.self]
    )
}

/// The mail options of `report` and `alerts`.
struct MailOptions: ParsableArguments {
    @Option(help: "Where the files go (default DIR/reports/ under the data directory).") var out: String?
    @Option(help: "From address (env SELFHEAL_MAIL_FROM; default selfheal <selfheal@HOST>).") var from: String?
    @Option(help: "To address, repeatable (env SELFHEAL_MAIL_TO, comma-separated; default root@HOST).")
    var to: [String] = []
    @Flag(help: "Pipe each message to sendmail -t -oi; a failure of sendmail is an error.") var send = false
    @Option(help: "The sendmail program for --send, looked up in PATH, /usr/sbin and /usr/lib.")
    var sendmail: String = "sendmail"
    @Option(help: "A directory of templates replacing the built-in ones (env SELFHEAL_TEMPLATES).")
    var templates: String?

    /// `From`, `To` and the Message-ID domain.
    var settings: MailSettings {
        var settings = MailSettings.defaults()
        if let from { settings.from = from }
        if !to.isEmpty { settings.to = to }
        return settings
    }

    /// The output directory.
    func outputDirectory(_ location: LocationOptions) -> String {
        out ?? (location.dataDirectory as NSString).appendingPathComponent("reports")
    }

    /// The templates: --templates, SELFHEAL_TEMPLATES, ./reports when it holds templates, else the built-in ones.
    func loadTemplates() throws -> ReportTemplates {
        if let directory = templates ?? ProcessInfo.processInfo.environment["SELFHEAL_TEMPLATES"] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
            else { throw CLIError("no template directory \(directory)") }
            return try ReportTemplates(directory: directory)
        }
        let local = "reports"
        let hasTemplates = ReportTemplates.names.contains {
            FileManager.default.fileExists(atPath: "\(local)/\($0).mustache")
        }
        return try ReportTemplates(directory: hasTemplates ? local : nil)
    }

    /// The sendmail program when --send is given.
    func sendmailProgram() throws -> Sendmail? {
        send ? try Sendmail(program: sendmail) : nil
    }
}

/// Writes a report's files, sends it with --send, prints the .eml path.
func deliver(_ report: Report, mail: MailOptions, location: LocationOptions) throws {
    let sender = try mail.sendmailProgram()
    let rendered = try ReportRenderer.render(report, templates: try mail.loadTemplates(), mail: mail.settings)
    let path = try ReportFiles.write(rendered, to: mail.outputDirectory(location))
    print(path)
    try sender?.send(rendered.eml)
}

/// The shared body of `report daily` and `report weekly`: the period named in `--tz`, its figures from the store,
/// the report's files, and the mail with `--send`.
func writeReport(
    location: LocationOptions,
    store: StoreOptions,
    mail: MailOptions,
    tz: String?,
    asOf: String?,
    make: (ReportInput) -> Report,
    period: (TimeZone, Int64) throws -> ReportPeriod
) async throws {
    try await reportingErrors {
        let zone = try zone(tz)
        let now = currentMillis()
        let generatedAt =
            try asOf.map { text throws(CLIError) in
                try TimeExpression(zone: zone, now: now).parse(text, option: "--as-of")
            } ?? now
        let period = try period(zone, generatedAt)
        let reader = try store.open(location)
        let input = try ReportInput.load(from: reader, period: period, generatedAt: generatedAt)
        try deliver(make(input), mail: mail, location: location)
    }
}

struct DailyReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daily",
        abstract: "Write the report of one calendar day in --tz (default yesterday).",
        discussion: """
            Examples:
              selfheal report daily
              selfheal report daily --date 2025-11-25 --tz Europe/Paris --out reports-out
              selfheal report daily --date today --send --from selfheal@example.com --to ops@example.com
            """
    )

    @OptionGroup var location: LocationOptions
    @OptionGroup var store: StoreOptions
    @Option(help: "The day: YYYY-MM-DD, today or yesterday.") var date: String = "yesterday"
    @Option(help: "Time zone of the day, e.g. Europe/Paris (default the system zone).") var tz: String?
    @Option(
        parsing: .unconditional,
        help: "Compute the report as of this time (default now): see 'selfheal help stats'."
    )
    var asOf: String?
    @OptionGroup var mail: MailOptions

    func run() async throws {
        try await writeReport(location: location, store: store, mail: mail, tz: tz, asOf: asOf, make: Report.daily) {
            zone,
            now in
            switch date {
            case "today": return .day(containing: now, zone: zone)
            case "yesterday": return ReportPeriod.day(containing: now, zone: zone).previous
            default:
                guard let day = ReportPeriod.day(date, zone: zone) else {
                    throw CLIError("invalid date \"\(date)\": use YYYY-MM-DD, today or yesterday")
                }
                return day
            }
        }
    }
}

struct WeeklyReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weekly",
        abstract: "Write the report of one ISO week (Monday to Monday) in --tz, against the week before.",
        discussion: """
            Trends per kind compare the per-day rates of the two weeks; recommendations are derived from the \
            data (see the README).

            Examples:
              selfheal report weekly
              selfheal report weekly --week 2025-W48 --tz Europe/Paris
              selfheal report weekly --week this --send --to ops@example.com
            """
    )

    @OptionGroup var location: LocationOptions
    @OptionGroup var store: StoreOptions
    @Option(help: "The week: YYYY-Www, this or last.") var week: String = "last"
    @Option(help: "Time zone of the week, e.g. Europe/Paris (default the system zone).") var tz: String?
    @Option(
        parsing: .unconditional,
        help: "Compute the report as of this time (default now): see 'selfheal help stats'."
    )
    var asOf: String?
    @OptionGroup var mail: MailOptions

    func run() async throws {
        try await writeReport(location: location, store: store, mail: mail, tz: tz, asOf: asOf, make: Report.weekly) {
            zone,
            now in
            switch week {
            case "this": return .week(containing: now, zone: zone)
            case "last": return ReportPeriod.week(containing: now, zone: zone).previous
            default:
                guard let value = ReportPeriod.week(week, zone: zone) else {
                    throw CLIError("invalid week \"\(week)\": use YYYY-Www (2025-W48), this or last")
                }
                return value
            }
        }
    }
}
