import ArgumentParser
import Foundation
import SelfHealEvents
import SelfHealStore

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "List stored events with ts in [since, until), oldest first, each with its seq.",
        discussion: """
            Reads the store directly: works with or without a running daemon.

            Examples:
              selfheal events --since -2h
              selfheal events --since 2025-11-25 --until 2025-11-26 --service portal --kind pool.warning
              selfheal events --since -7d --format ndjson > week.ndjson
            """
    )

    @OptionGroup var location: LocationOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var range: RangeOptions
    @Option(help: "Only this service.") var service: String?
    @Option(help: "Only this kind.") var kind: String?
    @Option(help: "table, json (an array) or ndjson (one object per line).") var format: OutputFormat = .table

    func run() async throws {
        try await reportingErrors {
            let (since, until, _) = try range.range()
            let reader = try store.open(location)
            let filter = EventFilter(since: since, until: until, service: service, kind: kind)
            var output = OutputStream()
            switch format {
            case .json, .ndjson:
                try output.jsonRecords(ndjson: format == .ndjson) { emit in
                    try reader.forEachEvent(filter) { emit($0.json) }
                }
            case .table:
                let time = LocalTime(zone: try range.zone())
                // Over the fleet, each event's host after its seq.
                let fleet = store.isFleet
                var table =
                    fleet
                    ? Table("SEQ", "HOST", "TS", "SERVICE", "COMPONENT", "KIND", "LEVEL", "MESSAGE")
                    : Table("SEQ", "TS", "SERVICE", "COMPONENT", "KIND", "LEVEL", "MESSAGE")
                try reader.forEachEvent(filter) { stored in
                    let event = stored.event
                    table.add(
                        [String(stored.seq)] + (fleet ? [(stored.host ?? "").clipped(24)] : []) + [
                            time.format(stored.timestamp), event.service, event.component.clipped(32),
                            event.kind.name, event.effectiveLevel.name, (event.message ?? "").clipped(60),
                        ]
                    )
                }
                if table.rows.isEmpty {
                    output.line("no events in this range")
                } else {
                    for line in table.render() { output.line(line) }
                }
            }
            output.flush()
        }
    }
}

struct RejectsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rejects",
        abstract: "List rejected lines received in [since, until), with their errors and raw text.",
        discussion: """
            Examples:
              selfheal rejects --since -1h
              selfheal rejects --since 2025-11-25 --until 2025-11-26 --format json
            """
    )

    @OptionGroup var location: LocationOptions
    @OptionGroup var range: RangeOptions
    @Option(help: "table, json (an array) or ndjson (one object per line).") var format: OutputFormat = .table

    func run() async throws {
        try await reportingErrors {
            let (since, until, _) = try range.range()
            let store = try location.openStore()
            var output = OutputStream()
            switch format {
            case .json, .ndjson:
                try output.jsonRecords(ndjson: format == .ndjson) { emit in
                    try store.forEachReject(since: since, until: until) { emit($0.json) }
                }
            case .table:
                let time = LocalTime(zone: try range.zone())
                var table = Table("RECEIVED", "LINE", "ERROR", "RAW")
                try store.forEachReject(since: since, until: until) { reject in
                    table.add([
                        time.format(reject.receivedAt), String(reject.line), reject.error.clipped(70),
                        String(decoding: reject.raw, as: UTF8.self).clipped(60),
                    ])
                }
                if table.rows.isEmpty {
                    output.line("no rejected lines in this range")
                } else {
                    for line in table.render() { output.line(line) }
                }
            }
            output.flush()
        }
    }
}
