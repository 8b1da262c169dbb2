import Foundation
import SelfHealEvents
import SelfHealing
import Testing

/// `selfheal ingest --log-lines` against a real daemon: any log in, the `[SELF-HEAL] {json}` lines stored.
@Suite(.serialized)
struct LogLinesIngestTests {
    @Test func theMarkedLinesOfAnyLogAreIngestedAndTheRestIgnored() throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        defer { _ = daemon.stop() }
        let warning = Event(
            service: "portal",
            kind: .poolWarning,
            component: "db-pool",
            timestamp: 1_764_063_620_200,
            id: "log-1",
            attributesJSON: #"{"used":17,"max":20}"#
        )
        let recovered = Event(
            service: "portal",
            kind: .poolRecovered,
            component: "db-pool",
            timestamp: 1_764_063_680_000,
            id: "log-2"
        )
        let log = [
            "2025-11-25T09:40:19.000Z info portal : starting up",
            // swift-log's default handler: timestamp, level, label, then the message.
            "2025-11-25T09:40:20.200Z warning selfheal : \(LogEventSink.line(for: warning))",
            "GET /api/manager/assistance 200 12ms",
            // journalctl -o cat gives the message alone; a log format may add text after the object.
            "\(LogEventSink.line(for: recovered)) (pid 4242)",
            "[SELF-HEAL] pool.warning portal/db-pool: the old readable format",
            #"[SELF-HEAL] {"service":"portal","kind":"pool.warnign"}"#,
            "",
        ].joined(separator: "\n")
        let result = try SelfHealBinary.run(
            ["ingest", "--log-lines", "--data-dir", directory.path, "-"],
            stdin: Data(log.utf8)
        )
        #expect(result.status == 1)  // one line unreadable, one rejected
        #expect(
            result.stdout
                == "accepted 2, duplicates 0, rejected 1, unreadable 1, ignored 2 lines without [SELF-HEAL]\n"
        )
        #expect(result.stderr.contains("stdin:5: [SELF-HEAL] is not followed by a JSON object"))
        #expect(result.stderr.contains(#"stdin:6: unknown kind "pool.warnign""#))
        let stored = try DaemonTests.storedEvents(directory.path)
        // Stored as sent (the store keeps the effective level).
        #expect(stored.map(\.event.id) == ["log-1", "log-2"])
        #expect(stored.map(\.event.timestamp) == [warning.timestamp, recovered.timestamp])
        #expect(stored.map(\.event.attributesJSON) == [warning.attributesJSON, nil])
    }

    @Test func theSameLogTwiceStoresItsEventsOnce() throws {
        let directory = try TemporaryDirectory()
        let file = directory.path + "/service.log"
        let event = Event(
            service: "portal",
            kind: .retryAttempt,
            component: "openai",
            timestamp: 1_764_063_620_200,
            id: "r-1"
        )
        try Data("noise\n\(LogEventSink.line(for: event))\nmore noise".utf8).write(to: URL(fileURLWithPath: file))
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        defer { _ = daemon.stop() }
        let first = try SelfHealBinary.run(["ingest", "--log-lines", "--data-dir", directory.path, file])
        #expect(first.status == 0, "\(first.stderr)")
        let second = try SelfHealBinary.run([
            "ingest", "--log-lines", "--data-dir", directory.path, "--format", "json", file,
        ])
        #expect(second.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])
        #expect(json["accepted"] as? Int == 0 && json["duplicates"] as? Int == 1 && json["ignored"] as? Int == 2)
    }
}
