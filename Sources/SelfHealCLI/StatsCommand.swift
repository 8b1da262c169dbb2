import ArgumentParser
import Foundation
import SelfHealEvents
import SelfHealStore

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show the figures of [since, until): prevented events, incidents by outcome, success rate, MTTR.",
        discussion: """
            prevented: events of a prevent kind (timeout.prevented, transition.blocked, ratelimit.throttled) \
            with ts in range.

            incidents: those opened in range, by their state as of --as-of (default now): resolved, failed, open, \
            or expired (heard nothing for the store's quiet period and got no recovery signal).

            actions = prevented + incidents.

            success rate = (prevented + resolved) / (prevented + resolved + failed); open and expired incidents \
            are not decided and do not count.

            MTTR, p50, p95: mean and nearest-rank percentiles of the recovery times of the resolved incidents.

            Examples:
              selfheal stats --since -24h
              selfheal stats --since 2025-11-24 --until 2025-12-01 --tz Europe/Paris
              selfheal stats --since -7d --service portal --format json
            """
    )

    @OptionGroup var location: LocationOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var range: RangeOptions
    @Option(help: "Only this service.") var service: String?
    @Option(help: "table, json or ndjson (the same object on one line).") var format: OutputFormat = .table

    func run() async throws {
        try await reportingErrors {
            let (since, until, asOf) = try range.range()
            let reader = try store.open(location)
            let stats = try reader.stats(since: since, until: until, service: service, asOf: asOf)
            switch format {
            case .json, .ndjson:
                print(stats.json)
            case .table:
                for line in stats.table(time: LocalTime(zone: try range.zone()), service: service) { print(line) }
            }
        }
    }
}

extension Stats {
    /// The figures as lines for people.
    func table(time: LocalTime, service: String?) -> [String] {
        let kinds = preventedByKind.keys.sorted().map { "\($0) \(preventedByKind[$0] ?? 0)" }.joined(separator: ", ")
        var lines = [
            "range          \(time.format(since)) to \(time.format(until)) (\(time.zone.identifier))"
                + (service.map { ", service \($0)" } ?? ""),
            "events         \(events)",
            "actions        \(actions) (prevented \(prevented) + incidents \(incidents))",
            "prevented      \(prevented): \(kinds)",
            "incidents      \(incidents): resolved \(resolved), failed \(failed), open \(open), expired \(expired)",
        ]
        if let successRate {
            lines.append("success rate   \(String(format: "%.1f", successRate * 100)) %")
        } else {
            lines.append("success rate   - (nothing decided in this range)")
        }
        if let mttrMs, let p50 = recoveryPercentile(50), let p95 = recoveryPercentile(95) {
            lines.append(
                "MTTR           \(readableDuration(mttrMs)) (p50 \(readableDuration(p50)), p95 \(readableDuration(p95)))"
            )
        } else {
            lines.append("MTTR           - (no resolved incidents)")
        }
        return lines
    }
}
