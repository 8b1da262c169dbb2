import ArgumentParser
import Foundation
import SelfHealEvents
import SelfHealServer
import SelfHealStore

struct IncidentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incidents",
        abstract: "List the incidents whose life overlaps [since, until), in order of opening.",
        discussion: """
            An incident overlaps the range when it opened before --until and had not ended before --since (still \
            active, or ended at or after --since). Incidents are derived from the events (see 'selfheal help \
            stats'): keyed by service and incident when an event gives one, else by service and component. An \
            incident ends when a recover event resolves it, or when it hears nothing for the store's quiet period \
            (default 4 h: see 'selfheal help serve'); then it shows as expired, or stays failed. --as-of (default \
            now) is the time that rule is applied at. Reads the store directly: works with or without a running \
            daemon.

            Examples:
              selfheal incidents --since -24h
              selfheal incidents --since 2025-11-25 --until 2025-11-26 --tz Europe/Paris --state failed
              selfheal incidents --since -7d --service portal --min-level critical --format json
            """
    )

    @OptionGroup var location: LocationOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var range: RangeOptions
    @Option(help: "Only this service.") var service: String?
    @Option(help: "Only incidents in this state (as of --as-of): open, resolved, failed or expired.")
    var state: IncidentState?
    @Option(help: "Only incidents that reached this level: info, warning, critical or failure.")
    var minLevel: EventLevel?
    @Option(help: "table, json (an array) or ndjson (one object per line).") var format: OutputFormat = .table

    func run() async throws {
        try await reportingErrors {
            let (since, until, asOf) = try range.range()
            let reader = try store.open(location)
            let filter = IncidentFilter(
                since: since,
                until: until,
                asOf: asOf,
                service: service,
                state: state,
                minimumLevel: minLevel
            )
            var output = OutputStream()
            switch format {
            case .json, .ndjson:
                try output.jsonRecords(ndjson: format == .ndjson) { emit in
                    try reader.forEachIncident(filter) { emit($0.json) }
                }
            case .table:
                let time = LocalTime(zone: try range.zone())
                var table = Table(
                    "ID",
                    "OPENED",
                    "STATE",
                    "PEAK",
                    "SERVICE",
                    "KEY",
                    "RECOVERY",
                    "EVENTS",
                    "ACTIONS",
                    "TITLE"
                )
                try reader.forEachIncident(filter) { incident in
                    table.add([
                        String(incident.id), time.format(incident.openedAt), incident.state.rawValue,
                        incident.peakLevel.name, incident.service,
                        (incident.incident.map { "incident \($0)" } ?? incident.component).clipped(32),
                        incident.recoveryMs.map(readableDuration) ?? "-", String(incident.eventCount),
                        incident.actions.isEmpty ? "-" : incident.actions.joined(separator: ","),
                        incident.title.clipped(60),
                    ])
                }
                if table.rows.isEmpty {
                    output.line("no incidents in this range")
                } else {
                    for line in table.render() { output.line(line) }
                }
            }
            output.flush()
        }
    }
}

extension IncidentState: ExpressibleByArgument {}

extension EventLevel: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.name) }
}

/// A duration for people: `800 ms`, `4.2 s`, `3 min`, `2.5 h`, `3.1 d`.
func readableDuration(_ milliseconds: Int64) -> String {
    func scaled(_ value: Double, _ unit: String) -> String {
        let tenths = (value * 10).rounded()
        let text = tenths.truncatingRemainder(dividingBy: 10) == 0 ? String(Int64(tenths / 10)) : String(tenths / 10)
        return "\(text) \(unit)"
    }
    let ms = Double(milliseconds)
    if milliseconds < 1_000 { return "\(milliseconds) ms" }
    if ms < 59_950 { return scaled(ms / 1_000, "s") }
    if ms < 3_597_000 { return scaled(ms / 60_000, "min") }
    if ms < 172_800_000 { return scaled(ms / 3_600_000, "h") }
    return scaled(ms / 86_400_000, "d")
}
