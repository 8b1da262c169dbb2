import Foundation
import Testing

/// A realistic day sent through a real daemon, then read back with `incidents`, `stats`, `verify` and
/// `rebuild` (SPEC sections 5 and 7).
@Suite(.serialized)
struct RealisticDayTests {
    /// 2025-11-25 in UTC, as NDJSON lines.
    static let day: [String] = {
        func line(_ ts: String, _ kind: String, _ component: String, _ extra: String = "") -> String {
            #"{"service":"portal","ts":"2025-11-25T\#(ts)Z","kind":"\#(kind)","component":"\#(component)"\#(extra)}"#
        }
        let api = "/api/manager/assistance"
        let openai = #","incident":"openai-outage""#
        var lines = [
            // A connection pool exhausted and recovered within a second.
            line("09:40:20.000", "pool.warning", "db-pool", #","attrs":{"used":17,"max":20}"#),
            line(
                "09:40:20.200",
                "pool.critical",
                "db-pool",
                #","message":"Pool exhausted","attrs":{"used":20,"max":20}"#
            ),
            line("09:40:20.850", "pool.recovered", "db-pool", #","attrs":{"used":6,"max":20}"#),
            // An API whose retries and circuit breaker recover it within seconds.
            line("10:15:00.000", "error.detected", api, #","message":"503 from upstream","attrs":{"status":503}"#),
            line("10:15:00.100", "retry.attempt", api, #","attrs":{"attempt":1,"max_attempts":3}"#),
            line("10:15:00.400", "retry.attempt", api, #","attrs":{"attempt":2,"max_attempts":3}"#),
            line("10:15:01.000", "breaker.opened", api, #","attrs":{"failures":5,"threshold":5}"#),
            line("10:15:04.000", "breaker.half_opened", api),
            line("10:15:04.200", "breaker.closed", api),
            // Spam capture auto-batched: a timeout prevented, then the batches.
            line("11:00:00.000", "timeout.prevented", "spam-capture", #","attrs":{"items":5000,"batch_size":500}"#),
        ]
        for batch in 1...10 {
            lines.append(
                line("11:00:0\(batch - 1).500", "batch.completed", "spam-capture", #","attrs":{"batch":\#(batch)}"#)
            )
        }
        lines += [
            // Invalid transitions blocked.
            line("12:00:00.000", "transition.blocked", "orders", #","attrs":{"from":"shipped","to":"draft"}"#),
            line("12:30:00.000", "transition.blocked", "orders", #","attrs":{"from":"paid","to":"draft"}"#),
            line("13:00:00.000", "transition.blocked", "orders", #","id":"tb-3""#),
            line("13:00:00.000", "transition.blocked", "orders", #","id":"tb-3""#),  // a duplicate
            line("14:00:00.000", "ratelimit.throttled", "gateway", #","attrs":{"client":"crawler"}"#),
            // An external API whose retries are exhausted.
            line("15:00:00.000", "retry.attempt", "openai", openai + #","attrs":{"attempt":1}"#),
            line("15:00:01.000", "retry.attempt", "openai", openai + #","attrs":{"attempt":2}"#),
            line("15:00:03.000", "retry.attempt", "openai", openai + #","attrs":{"attempt":3}"#),
            line("15:00:07.000", "retry.exhausted", "openai", openai + #","message":"3 attempts failed""#),
            // A health check still degraded at midnight.
            line("23:58:00.000", "health.degraded", "health", #","attrs":{"check":"search","response_ms":2300}"#),
        ]
        return lines
    }()

    static func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    @Test func aDayThroughTheDaemon() throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        let dir = ["--data-dir", directory.path]
        let ingest = try SelfHealBinary.run(["ingest"] + dir, stdin: Data(Self.day.joined(separator: "\n").utf8))
        #expect(ingest.status == 0)
        #expect(ingest.stdout.contains("accepted 29, duplicates 1, rejected 0"))

        // Read as of midnight at the end of the day, as the day's report is.
        let range = ["--since", "2025-11-25", "--until", "2025-11-26", "--tz", "UTC", "--as-of", "2025-11-26"]
        let listed = try SelfHealBinary.run(["incidents", "--format", "json"] + range + dir)
        #expect(listed.status == 0)
        let incidents = try #require(try Self.json(listed.stdout) as? [[String: Any]])
        #expect(incidents.count == 4)
        #expect(incidents.map { $0["state"] as? String } == ["resolved", "resolved", "failed", "open"])
        #expect(
            incidents.map { $0["component"] as? String } == ["db-pool", "/api/manager/assistance", "openai", "health"]
        )
        #expect(incidents.map { $0["recovery_ms"] as? Int } == [850, 4_200, nil, nil])
        #expect(incidents.map { $0["peak_level"] as? String } == ["critical", "warning", "failure", "warning"])
        #expect(incidents.map { $0["event_count"] as? Int } == [3, 6, 4, 1])
        #expect(incidents[1]["actions"] as? [String] == ["breaker.half_opened", "breaker.opened", "retry.attempt"])
        #expect(incidents[2]["incident"] as? String == "openai-outage")
        #expect(incidents[2]["failed_at"] as? String == "2025-11-25T15:00:07.000Z")
        #expect(incidents[0]["title"] as? String == "Connection pool warning on db-pool")
        #expect(incidents[0]["opened_at"] as? String == "2025-11-25T09:40:20.000Z")
        #expect(incidents[0]["resolved_at"] as? String == "2025-11-25T09:40:20.850Z")
        #expect(incidents[3]["resolved_at"] is NSNull)
        #expect(incidents[3]["ended_at"] is NSNull)
        #expect(incidents[3]["last_event_at"] as? String == "2025-11-25T23:58:00.000Z")

        // Read now, the health check has been quiet for more than the quiet period (4 h): it went quiet at 03:58.
        let today = try SelfHealBinary.run(["incidents", "--format", "json"] + range.dropLast(2) + dir)
        let quiet = try #require(try Self.json(today.stdout) as? [[String: Any]])
        #expect(quiet.map { $0["state"] as? String } == ["resolved", "resolved", "failed", "expired"])
        #expect(quiet[3]["ended_at"] as? String == "2025-11-26T03:58:00.000Z")

        let table = try SelfHealBinary.run(["incidents"] + range + dir)
        #expect(table.stdout.contains("850 ms"))
        #expect(table.stdout.contains("4.2 s"))
        #expect(table.stdout.contains("2025-11-25 09:40:20.000"))

        let failed = try SelfHealBinary.run(["incidents", "--format", "ndjson", "--state", "failed"] + range + dir)
        #expect(failed.stdout.split(separator: "\n").count == 1)
        let critical = try SelfHealBinary.run(
            ["incidents", "--format", "ndjson", "--min-level", "critical"] + range + dir
        )
        #expect(critical.stdout.split(separator: "\n").count == 2)

        let statsRun = try SelfHealBinary.run(["stats", "--format", "json"] + range + dir)
        #expect(statsRun.status == 0)
        let stats = try #require(try Self.json(statsRun.stdout) as? [String: Any])
        #expect(stats["since"] as? String == "2025-11-25T00:00:00.000Z")
        #expect(stats["until"] as? String == "2025-11-26T00:00:00.000Z")
        #expect(stats["events"] as? Int == 29)
        #expect(stats["actions"] as? Int == 9)
        let prevented = try #require(stats["prevented"] as? [String: Any])
        #expect(prevented["total"] as? Int == 5)
        #expect(
            prevented["by_kind"] as? [String: Int]
                == ["timeout.prevented": 1, "transition.blocked": 3, "ratelimit.throttled": 1]
        )
        #expect(
            stats["incidents"] as? [String: Int] == ["total": 4, "resolved": 2, "failed": 1, "open": 1, "expired": 0]
        )
        #expect(stats["success_rate"] as? Double == 0.875)
        #expect(stats["mttr_ms"] as? Int == 2_525)
        #expect(stats["p50_recovery_ms"] as? Int == 850)
        #expect(stats["p95_recovery_ms"] as? Int == 4_200)

        let readable = try SelfHealBinary.run(["stats"] + range + dir)
        #expect(readable.stdout.contains("success rate   87.5 %"))
        #expect(readable.stdout.contains("MTTR           2.5 s (p50 850 ms, p95 4.2 s)"))

        // The next day: the health check is still degraded, so it overlaps; nothing opened then.
        let nextDay = ["--since", "2025-11-26", "--until", "2025-11-27", "--tz", "UTC"]
        let next = try SelfHealBinary.run(["incidents", "--format", "ndjson"] + nextDay + dir)
        #expect(next.stdout.contains(#""component":"health""#))
        let nextStats = try SelfHealBinary.run(["stats", "--format", "json"] + nextDay + dir)
        #expect(nextStats.stdout.contains(#""incidents":{"total":0"#))

        // verify runs beside the daemon; rebuild refuses.
        let verify = try SelfHealBinary.run(["verify"] + dir)
        #expect(verify.status == 0)
        #expect(verify.stdout.contains("equal to a fresh replay (4 incidents"))
        let refused = try SelfHealBinary.run(["rebuild"] + dir)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("stop it before 'selfheal rebuild'"))

        #expect(daemon.stop() == 0)
        let rebuilt = try SelfHealBinary.run(["rebuild"] + dir)
        #expect(rebuilt.status == 0)
        #expect(rebuilt.stdout.hasPrefix("replayed 29 events in "))
        #expect(rebuilt.stdout.contains("events/s"))
        let again = try SelfHealBinary.run(["incidents", "--format", "json"] + range + dir)
        #expect(again.stdout == listed.stdout)
    }
}
