import Foundation
import SelfHealEvents
import SelfHealStore

/// What an alert mail says about its incident.
public enum AlertStatus: String, Sendable, CaseIterable {
    /// Still open, and it reached critical or failure.
    case open
    /// It reached critical or failure, and healed itself.
    case resolved
    /// Self-healing gave up; unresolved.
    case failed
    /// It failed, and later recovered.
    case recovered
    /// It reached critical or failure, then went quiet without a recovery signal: outcome unknown.
    case expired

    /// The subject's tag.
    public var tag: String {
        switch self {
        case .open: "[OPEN]"
        case .resolved: "[AUTO-RESOLVED]"
        case .failed: "[FAILURE]"
        case .recovered: "[RECOVERED]"
        case .expired: "[WENT QUIET]"
        }
    }

    /// The status in words: `RESOLVED`.
    public var label: String {
        switch self {
        case .open: "OPEN"
        case .resolved: "RESOLVED"
        case .failed: "FAILED"
        case .recovered: "RECOVERED AFTER FAILURE"
        case .expired: "WENT QUIET"
        }
    }

    /// The subject's ending.
    public var outcome: String {
        switch self {
        case .open: "Self-Healing In Progress"
        case .resolved: "System Self-Healed"
        case .failed: "Manual Intervention Required"
        case .recovered: "Recovered After Failure"
        case .expired: "No Recovery Signal"
        }
    }

    /// The status an incident's alert has now, or nil when the incident does not call for one: it must have
    /// reached `critical` or `failure`, or have failed.
    public static func of(_ incident: ReportIncident) -> AlertStatus? {
        guard incident.peakLevel >= .critical || incident.state == .failed else { return nil }
        switch incident.state {
        case .open: return .open
        case .resolved: return .resolved
        case .failed: return incident.resolvedAt == nil ? .failed : .recovered
        case .expired: return .expired
        }
    }
}

/// The alert mails of incidents: one thread per incident, one message per status it reaches.
public enum AlertMail {
    /// `[AUTO-RESOLVED] Connection pool warning on db-pool - System Self-Healed`.
    public static func subject(_ incident: ReportIncident, status: AlertStatus) -> String {
        "\(status.tag) \(ReportFormat.kindSingular(incident.kind)) on \(incident.component) - \(status.outcome)"
    }

    /// The `Message-ID` all of an incident's alerts refer to, so that they make one thread.
    public static func threadID(_ incident: ReportIncident, domain: String) -> String {
        "selfheal-incident-\(incident.id).\(incident.openedAt)@\(domain)"
    }

    /// The `Message-ID` of an incident's alert with a status.
    public static func messageID(_ incident: ReportIncident, status: AlertStatus, domain: String) -> String {
        "selfheal-incident-\(incident.id)-\(status.rawValue).\(incident.openedAt)@\(domain)"
    }

    /// The alert of an incident in a status.
    /// - Parameters:
    ///   - earlier: the `Message-ID`s of this incident's alerts already written, oldest first.
    ///   - now: the `Date`, epoch milliseconds.
    public static func message(
        _ incident: ReportIncident,
        status: AlertStatus,
        earlier: [String],
        templates: ReportTemplates,
        mail: MailSettings,
        zone: TimeZone,
        now: Int64
    ) -> MailMessage {
        let context = self.context(incident, status: status, zone: zone, now: now)
        let root = threadID(incident, domain: mail.domain)
        return MailMessage(
            from: mail.from,
            to: mail.to,
            subject: subject(incident, status: status),
            date: now,
            zone: zone,
            messageID: messageID(incident, status: status, domain: mail.domain),
            inReplyTo: earlier.last ?? root,
            references: [root] + earlier,
            extraHeaders: [("X-Selfheal-Incident", "\(incident.id)"), ("X-Selfheal-Status", status.rawValue)],
            text: templates.render("alert.txt", context),
            html: templates.render("alert.html", context)
        )
    }

    static func context(_ incident: ReportIncident, status: AlertStatus, zone: TimeZone, now: Int64) -> [String: Any] {
        let colour: String
        let outcome: String
        switch status {
        case .open:
            colour = ReportPalette.open.hex
            outcome =
                "Still open after \(ReportFormat.duration(now - incident.openedAt)); self-healing is working on it."
        case .resolved:
            colour = ReportPalette.prevented.hex
            outcome = "System recovered automatically in \(ReportFormat.duration(incident.recoveryMs ?? 0))."
        case .failed:
            colour = ReportPalette.failed.hex
            let failed = incident.failedAt.map { " at \(ReportFormat.dateTime($0, zone: zone))" } ?? ""
            outcome = "Self-healing gave up\(failed): manual intervention required."
        case .recovered:
            colour = ReportPalette.autoRecovered.hex
            outcome = "It failed, then recovered after \(ReportFormat.duration(incident.recoveryMs ?? 0)) in all."
        case .expired:
            colour = ReportPalette.expired.hex
            outcome =
                "Went quiet without a recovery signal: nothing was heard after "
                + "\(ReportFormat.dateTime(incident.lastEventAt, zone: zone)), so its outcome is unknown."
        }
        let symbol: String =
            switch status {
            case .open: "⏳ OPEN"
            case .resolved, .recovered: "✅ \(status.label)"
            case .failed: "❌ FAILED"
            case .expired: "… WENT QUIET"
            }
        return [
            "subject": subject(incident, status: status),
            "headline": "\(ReportFormat.kindSingular(incident.kind)) on \(incident.component)",
            "title": incident.title, "service": incident.service, "component": incident.component,
            "id": "\(incident.id)", "kind": incident.kind, "level": incident.peakLevel.name,
            "opened": ReportFormat.dateTime(incident.openedAt, zone: zone), "zone": zone.identifier,
            "events": "\(incident.eventCount)",
            "actions": incident.actions.map { ["text": ReportFormat.actionName($0), "kind": $0] },
            "hasActions": !incident.actions.isEmpty,
            "outcome": outcome, "status": symbol, "statusLabel": status.label, "colour": colour,
            "recovery": ReportFormat.duration(incident.recoveryMs),
            "generator": ReportRenderer.generator,
            "since": Timestamp.formatRFC3339(incident.openedAt),
        ]
    }
}

/// What `selfheal alerts` has written and sent: a tab-separated file in the data directory, one line per
/// incident and status (`id`, `opened_at`, `status`, `message_id`, `sent`), so a rerun writes nothing new.
public struct AlertLedger: Sendable {
    /// One message.
    public struct Entry: Sendable, Equatable {
        public var incidentID: Int64
        public var openedAt: Int64
        public var status: AlertStatus
        public var messageID: String
        /// Whether `--send` has handed it to sendmail.
        public var sent: Bool
    }

    /// The file.
    public let path: String
    /// The entries, in the order written.
    public private(set) var entries: [Entry]

    /// Reads the ledger; a missing file is an empty ledger.
    public init(path: String) throws(ReportError) {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            entries = []
            return
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ReportError(.io, "cannot read the alert ledger \(path): \(error.localizedDescription)")
        }
        var entries: [Entry] = []
        for (number, line) in text.split(separator: "\n").enumerated() where !line.hasPrefix("#") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 5, let id = Int64(fields[0]), let openedAt = Int64(fields[1]),
                let status = AlertStatus(rawValue: String(fields[2]))
            else { throw ReportError(.io, "the alert ledger \(path) is damaged at line \(number + 1)") }
            entries.append(
                Entry(
                    incidentID: id,
                    openedAt: openedAt,
                    status: status,
                    messageID: String(fields[3]),
                    sent: fields[4] == "1"
                )
            )
        }
        self.entries = entries
    }

    /// The entry of an incident's status, if written before.
    public func entry(_ incident: ReportIncident, _ status: AlertStatus) -> Entry? {
        entries.first { $0.incidentID == incident.id && $0.openedAt == incident.openedAt && $0.status == status }
    }

    /// The `Message-ID`s of an incident's alerts, oldest first.
    public func messageIDs(_ incident: ReportIncident) -> [String] {
        entries.filter { $0.incidentID == incident.id && $0.openedAt == incident.openedAt }.map(\.messageID)
    }

    /// Records a message written (and maybe sent), replacing an earlier entry of the same status.
    public mutating func record(_ entry: Entry) {
        if let index = entries.firstIndex(where: {
            $0.incidentID == entry.incidentID && $0.openedAt == entry.openedAt && $0.status == entry.status
        }) {
            entries[index] = entry
        } else {
            entries.append(entry)
        }
    }

    /// Writes the ledger (to a temporary file, then renamed over the old one).
    public func save() throws(ReportError) {
        var text = "# selfheal alerts: incident id, opened_at, status, message id, sent\n"
        for entry in entries {
            text += "\(entry.incidentID)\t\(entry.openedAt)\t\(entry.status.rawValue)\t\(entry.messageID)\t"
            text += entry.sent ? "1\n" : "0\n"
        }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ReportError(.io, "cannot write the alert ledger \(path): \(error.localizedDescription)")
        }
    }
}

/// One run of `selfheal alerts`: writes (and with a sendmail, sends) the alerts not written or sent before.
public struct AlertRun: Sendable {
    /// A message this run wrote or sent.
    public struct Output: Sendable {
        public var incidentID: Int64
        public var status: AlertStatus
        public var path: String
        public var sent: Bool
    }

    public var templates: ReportTemplates
    public var mail: MailSettings
    public var zone: TimeZone
    /// The directory the `.eml` files go to.
    public var outputDirectory: String
    /// When set, messages not yet sent are sent.
    public var sendmail: Sendmail?

    /// Creates a run.
    public init(
        templates: ReportTemplates,
        mail: MailSettings,
        zone: TimeZone,
        outputDirectory: String,
        sendmail: Sendmail? = nil
    ) {
        self.templates = templates
        self.mail = mail
        self.zone = zone
        self.outputDirectory = outputDirectory
        self.sendmail = sendmail
    }

    /// Writes the alerts of `incidents` not in the ledger yet (and sends those not sent yet, with a sendmail);
    /// records each in the ledger as soon as it is done, so a failure half-way loses nothing.
    public func run(
        incidents: [ReportIncident],
        ledger: inout AlertLedger,
        now: Int64
    ) throws(ReportError)
        -> [Output]
    {
        try ReportFiles.makeDirectory(outputDirectory)
        var outputs: [Output] = []
        for incident in incidents {
            guard let status = AlertStatus.of(incident) else { continue }
            let previous = ledger.entry(incident, status)
            if let previous, previous.sent || sendmail == nil { continue }
            let message = AlertMail.message(
                incident,
                status: status,
                earlier: ledger.messageIDs(incident).filter { $0 != previous?.messageID },
                templates: templates,
                mail: mail,
                zone: zone,
                now: now
            )
            let bytes = message.render()
            let path = (outputDirectory as NSString).appendingPathComponent(
                "selfheal-alert-\(incident.id)-\(status.rawValue).eml"
            )
            try ReportFiles.write(bytes, to: path)
            try sendmail?.send(bytes)
            ledger.record(
                AlertLedger.Entry(
                    incidentID: incident.id,
                    openedAt: incident.openedAt,
                    status: status,
                    messageID: message.messageID,
                    sent: sendmail != nil
                )
            )
            try ledger.save()
            outputs.append(Output(incidentID: incident.id, status: status, path: path, sent: sendmail != nil))
        }
        return outputs
    }
}
