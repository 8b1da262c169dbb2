import Foundation
import SelfHealEvents
import SelfHealStore
import Testing

@testable import SelfHealReports

/// Reports read from a real store: their figures are `stats` over the same range, in text, HTML and JSON.
@Suite("Reports from the store")
struct StoreReportTests {
    static let zone = TimeZone(identifier: "America/New_York")!

    /// A store holding a day (2025-11-25 in New York) with recovered, failed, open and prevented issues, and
    /// events just outside the day that must not count.
    static func makeStore(_ directory: TemporaryDirectory) throws -> EventStore {
        let store = try EventStore(
            StoreConfiguration(path: directory.path + "/events.db", durability: .normal)
        )
        func at(_ time: String) -> Int64 { Timestamp.parseRFC3339("2025-11-25T\(time)-05:00")! }
        func event(
            _ kind: EventKind,
            _ ts: Int64,
            _ component: String,
            level: EventLevel? = nil,
            incident: String? = nil
        )
            -> IncomingEvent
        {
            IncomingEvent(
                event: Event(
                    service: "portal",
                    kind: kind,
                    component: component,
                    timestamp: ts,
                    level: level,
                    message: nil,
                    incident: incident,
                    id: nil
                ),
                receivedAt: ts,
                peer: nil
            )
        }
        var events: [IncomingEvent] = [
            event(.poolWarning, at("00:00:00") - 1, "db-pool"),  // the day before: not counted
            event(.poolRecovered, at("00:00:00") + 500, "db-pool"),
            event(.poolWarning, at("09:40:20.200"), "db-pool"),
            event(.poolCritical, at("09:40:20.700"), "db-pool"),
            event(.breakerOpened, at("09:40:20.800"), "db-pool"),
            event(.poolRecovered, at("09:40:21.000"), "db-pool"),
            event(.errorDetected, at("10:00:00"), "/api"),
            event(.retryAttempt, at("10:00:01"), "/api"),
            event(.retrySucceeded, at("10:00:04.200"), "/api"),
            event(.responseInvalid, at("16:00:00"), "openai", incident: "outage"),
            event(.retryExhausted, at("16:00:30"), "openai", incident: "outage"),
            event(.healthDegraded, at("23:30:00"), "search"),
            event(.timeoutPrevented, at("23:59:59.999"), "spam"),
            event(.timeoutPrevented, at("00:00:00") + 86_400_000, "spam"),  // the next day: not counted
        ]
        for second in 0..<5 {
            events.append(event(.transitionBlocked, at("09:15:0\(second)"), "spam"))
        }
        _ = try store.append(events)
        return store
    }

    @Test func figuresEqualStatsInEveryForm() throws {
        let directory = try TemporaryDirectory()
        let store = try Self.makeStore(directory)
        let period = try #require(ReportPeriod.day("2025-11-25", zone: Self.zone))
        let stats = try store.stats(since: period.since, until: period.until, asOf: period.until + 3_600_000)
        let input = try ReportInput.load(from: store, period: period, generatedAt: period.until + 3_600_000)
        #expect(input.figures == stats)
        #expect(stats.prevented == 6 && stats.resolved == 2 && stats.failed == 1 && stats.open == 1)
        let output = try ReportRenderer.render(
            Report.daily(input),
            templates: try ReportTemplates.builtIn(),
            mail: Fixtures.mail
        )
        let json = try #require(try JSONSerialization.jsonObject(with: Data(output.json.utf8)) as? [String: Any])
        let totals = try #require(json["totals"] as? [String: Any])
        let expected: [(String, String, Int64?)] = [
            ("actions", "Total self-healing actions", stats.actions),
            ("prevented", "Issues prevented", stats.prevented),
            ("auto_recovered", "Auto-recoveries", stats.resolved), ("failed", "Failures", stats.failed),
            ("open", "Still open", stats.open), ("mttr_ms", "MTTR", stats.mttrMs),
        ]
        for (key, label, value) in expected {
            #expect((totals[key] as? NSNumber)?.int64Value == value, "\(key)")
            let shown = key == "mttr_ms" ? ReportFormat.duration(value) : "\(value!)"
            #expect(output.text.contains("  \(label.padded(to: 29))\(shown)\n"), "text \(label)")
            #expect(output.html.contains(">\(label)</td>"), "html \(label)")
            #expect(output.html.contains(">\(shown)<"), "html \(label) \(shown)")
        }
        #expect(output.json.contains("\"success_rate\":\(stats.successRate!)"))
        #expect(
            output.text.contains(
                "  \("Success rate".padded(to: 29))\(ReportFormat.percent(stats.successRate!)) (8 of 9)"
            )
        )
        // The chart puts each action in its local hour.
        #expect(input.buckets[9].prevented == 5 && input.buckets[9].autoRecovered == 1)
        #expect(input.buckets[23].prevented == 1 && input.buckets[23].open == 1)
        #expect(input.buckets.map(\.total).reduce(0, +) == Int(stats.actions))
    }

    @Test func alertsFromTheStoreAreWrittenOnce() throws {
        let directory = try TemporaryDirectory()
        let store = try Self.makeStore(directory)
        let period = try #require(ReportPeriod.day("2025-11-25", zone: Self.zone))
        let incidents = try ReportInput.incidents(store, since: period.since, until: period.until, asOf: period.until)
        let run = AlertRun(
            templates: try ReportTemplates.builtIn(),
            mail: Fixtures.mail,
            zone: Self.zone,
            outputDirectory: directory.path + "/alerts"
        )
        var ledger = try AlertLedger(path: directory.path + "/alerts-sent.tsv")
        let written = try run.run(incidents: incidents, ledger: &ledger, now: period.until)
        #expect(written.map(\.status) == [.resolved, .failed])
        var again = try AlertLedger(path: directory.path + "/alerts-sent.tsv")
        #expect(try run.run(incidents: incidents, ledger: &again, now: period.until + 60_000).isEmpty)
    }
}
