import Foundation
import SelfHealFleet
import SelfHealStore
import Synchronization
import Testing

/// `selfheal events|incidents|stats|report|alerts --store postgresql://...` (real processes) against a real
/// PostgreSQL server: the same output as on a local store fed the same events in the same order; events differ
/// only by their `"host"`.
@Suite(.serialized) struct FleetReadCommandTests {
    static let fixture = AsyncFixture()

    /// One fixture for both suites: building it (a local store, a database) is the slow part.
    final class AsyncFixture: Sendable {
        private let task = Mutex<Task<FleetReadFixture, any Error>?>(nil)

        func get() async throws -> FleetReadFixture {
            let task = task.withLock { task in
                if let task { return task }
                let made = Task { try await FleetReadFixture.make(server: try TestPostgresServer.shared()) }
                task = made
                return made
            }
            return try await task.value
        }
    }

    /// Runs a read on the local store and on the fleet (with `--out` into each directory of `out`, when given);
    /// returns both outputs after checking both succeeded.
    private func both(
        _ arguments: [String],
        fixture: FleetReadFixture,
        out: (local: String, fleet: String)? = nil
    ) throws -> (local: String, fleet: String) {
        let local = try SelfhealBinary.run(
            arguments + ["--data-dir", fixture.dataDirectory] + (out.map { ["--out", $0.local] } ?? [])
        )
        let fleet = try SelfhealBinary.run(
            arguments + ["--data-dir", try FleetReadFixture.temporaryDirectory(), "--store", fixture.url]
                + (out.map { ["--out", $0.fleet] } ?? [])
        )
        #expect(local.status == 0, "\(arguments): \(local.stderr)")
        #expect(fleet.status == 0, "\(arguments) --store: \(fleet.stderr)")
        return (local.stdout, fleet.stdout)
    }

    @Test(arguments: [
        ["events", "--since", "2025-11-24", "--until", "2025-12-01", "--format", "json"],
        [
            "events", "--since", "2025-11-25T05:00:00Z", "--until", "2025-11-26T07:30:00Z", "--service", "portal",
            "--format", "ndjson",
        ],
        ["events", "--since", "2025-11-24", "--until", "2025-12-01", "--kind", "retry.attempt", "--format", "json"],
    ])
    func eventsAreTheLocalOnesWithTheirHost(arguments: [String]) async throws {
        let fixture = try await Self.fixture.get()
        let (local, fleet) = try both(arguments, fixture: fixture)
        #expect(local.count > 5_000)
        // Each event names its host, right after its seq: the host the fixture stored it from.
        let pattern = try Regex(#","host":"([^"]*)""#)
        var checked = 0
        for line in fleet.split(separator: "\n") where line.contains("\"seq\":") {
            let seq = Int64(line.firstMatch(of: try Regex(#""seq":([0-9]+)"#))?.output[1].substring ?? "") ?? -1
            let host = line.firstMatch(of: pattern)?.output[1].substring.map(String.init)
            #expect(host == fixture.hostBySeq[seq], "event \(seq)")
            checked += 1
        }
        #expect(checked > 50)
        #expect(fleet.replacing(pattern, with: "") == local)
    }

    @Test func theEventsTableShowsEachHost() async throws {
        let fixture = try await Self.fixture.get()
        let (local, fleet) = try both(
            ["events", "--since", "2025-11-25", "--until", "2025-11-26", "--tz", "UTC", "--service", "mail"],
            fixture: fixture
        )
        let localLines = local.split(separator: "\n")
        let fleetLines = fleet.split(separator: "\n")
        #expect(localLines.first?.hasPrefix("SEQ  TS") == true)
        #expect(fleetLines.first?.hasPrefix("SEQ  HOST") == true)
        #expect(fleetLines.count == localLines.count)
        #expect(fleetLines.count > 20)
        for (line, expected) in zip(fleetLines, localLines).dropFirst() {
            let fleetColumns = line.split(separator: " ", omittingEmptySubsequences: true)
            let localColumns = expected.split(separator: " ", omittingEmptySubsequences: true)
            let seq = Int64(fleetColumns[0]) ?? -1
            #expect(fleetColumns.count > 1 && String(fleetColumns[1]) == fixture.hostBySeq[seq])
            #expect(Array(fleetColumns.prefix(1) + fleetColumns.dropFirst(2)) == localColumns)
        }
    }

    @Test(arguments: [
        ["incidents", "--since", "2025-11-24", "--until", "2025-12-01", "--as-of", "2025-11-26T12:00:00Z"],
        ["incidents", "--since", "2025-11-25T10:00:00Z", "--until", "2025-11-26T10:00:00Z", "--as-of", "2025-12-01"],
        ["incidents", "--since", "2025-11-24", "--until", "2025-12-01", "--as-of", "2025-12-01", "--state", "expired"],
        [
            "incidents", "--since", "2025-11-24", "--until", "2025-12-01", "--as-of", "2025-11-27T01:00:00Z",
            "--state", "open",
        ],
        [
            "incidents", "--since", "2025-11-24", "--until", "2025-12-01", "--service", "billing", "--min-level",
            "critical",
        ],
        [
            "stats", "--since", "2025-11-25T03:17:00Z", "--until", "2025-11-27T20:45:30Z", "--as-of",
            "2025-11-26T12:00:00Z",
        ],
        ["stats", "--since", "2025-11-25", "--until", "2025-11-28", "--service", "billing", "--as-of", "2025-12-01"],
        ["stats", "--since", "2025-11-25T03:17:00Z", "--until", "2025-11-25T03:50:00Z", "--as-of", "2025-12-01"],
    ])
    func incidentsAndStatsAreTheLocalOnes(arguments: [String]) async throws {
        let fixture = try await Self.fixture.get()
        for format in ["json", "table"] {
            let (local, fleet) = try both(arguments + ["--format", format, "--tz", "UTC"], fixture: fixture)
            #expect(fleet == local, "\(arguments) --format \(format)")
            #expect(local.count > 100)
        }
    }

    @Test func theFixtureHoldsEveryState() async throws {
        let fixture = try await Self.fixture.get()
        let (_, fleet) = try both(
            ["incidents", "--since", "2025-11-24", "--until", "2025-12-01", "--as-of", "2025-11-27T01:00:00Z"]
                + ["--format", "json"],
            fixture: fixture
        )
        for state in ["open", "resolved", "failed", "expired"] {
            #expect(fleet.contains("\"state\":\"\(state)\""), "no \(state) incident")
        }
    }

    @Test(arguments: [
        ["report", "daily", "--date", "2025-11-25", "--tz", "UTC", "--as-of", "2025-11-27T00:00:00Z"],
        ["report", "weekly", "--week", "2025-W48", "--tz", "UTC", "--as-of", "2025-12-02T00:00:00Z"],
    ])
    func reportsAreTheLocalOnes(arguments: [String]) async throws {
        let fixture = try await Self.fixture.get()
        let (localOut, fleetOut) = (
            try FleetReadFixture.temporaryDirectory(), try FleetReadFixture.temporaryDirectory()
        )
        let (local, fleet) = try both(arguments, fixture: fixture, out: (localOut, fleetOut))
        let name = (local.trimmingCharacters(in: .whitespacesAndNewlines) as NSString).lastPathComponent
        #expect((fleet.trimmingCharacters(in: .whitespacesAndNewlines) as NSString).lastPathComponent == name)
        let stem = (name as NSString).deletingPathExtension
        let localJSON = try String(contentsOfFile: "\(localOut)/\(stem).json", encoding: .utf8)
        #expect(try String(contentsOfFile: "\(fleetOut)/\(stem).json", encoding: .utf8) == localJSON)
        #expect(localJSON.contains("\"totals\""))
        // The text part too, but for the local log's hash chain head, which the fleet (a chain per host) lacks.
        let localText = try String(contentsOfFile: "\(localOut)/\(stem).txt", encoding: .utf8)
        let fleetText = try String(contentsOfFile: "\(fleetOut)/\(stem).txt", encoding: .utf8)
        #expect(localText.contains("Log head: seq"))
        #expect(
            fleetText
                == localText.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("Log head: seq") }.joined(separator: "\n")
        )
    }

    @Test func alertsAreTheLocalOnes() async throws {
        let fixture = try await Self.fixture.get()
        let arguments = [
            "alerts", "--since", "2025-11-24", "--until", "2025-12-01", "--as-of", "2025-11-28", "--tz", "UTC",
        ]
        let (localOut, fleetOut) = (
            try FleetReadFixture.temporaryDirectory(), try FleetReadFixture.temporaryDirectory()
        )
        _ = try both(arguments, fixture: fixture, out: (localOut, fleetOut))
        let names = try FileManager.default.contentsOfDirectory(atPath: localOut).sorted()
        #expect(names.count > 5)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fleetOut).sorted() == names)
        for name in names {
            let expected = try Data(contentsOf: URL(fileURLWithPath: "\(localOut)/\(name)"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(fleetOut)/\(name)")) == expected, "\(name)")
        }
    }

    @Test func theFleetsAlertsHaveTheirOwnLedger() async throws {
        let fixture = try await Self.fixture.get()
        let directory = try FleetReadFixture.temporaryDirectory()
        let arguments = [
            "alerts", "--since", "2025-11-24", "--until", "2025-12-01", "--as-of", "2025-11-28", "--store", fixture.url,
            "--data-dir", directory, "--out", try FleetReadFixture.temporaryDirectory(),
        ]
        let first = try SelfhealBinary.run(arguments)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.split(separator: "\n").count > 5)
        let again = try SelfhealBinary.run(arguments)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.isEmpty)
        #expect(again.stderr.contains("no new alerts"))
        #expect(FileManager.default.fileExists(atPath: "\(directory)/alerts-sent-fleet.tsv"))
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/alerts-sent.tsv"))
    }

    @Test func aStoreThatCannotBeReadIsOneLineAndExitCodeOne() async throws {
        let server = try TestPostgresServer.shared()
        let port = try TestPostgresServer.freePort()
        let empty = try server.makeDatabase()
        let directory = try FleetReadFixture.temporaryDirectory()
        let cases: [(arguments: [String], environment: [String: String], message: String)] = [
            (["stats", "--store", "mysql://u@h/db"], [:], "not a postgresql:// URL: mysql://u@h/db"),
            (
                ["incidents"], ["SELFHEAL_STORE": "postgresql://postgres@127.0.0.1:\(port)/fleet"],
                "cannot connect to the central store postgresql://postgres@127.0.0.1:\(port)/fleet"
            ),
            (["events", "--store", empty], [:], "has no fleet schema"),
        ]
        for item in cases {
            let result = try SelfhealBinary.run(
                item.arguments + ["--data-dir", directory],
                environment: item.environment
            )
            #expect(result.status == 1, "\(item.arguments)")
            #expect(result.stderr.contains(item.message), "\(result.stderr)")
            #expect(
                result.stderr.trimmingCharacters(in: .newlines).split(separator: "\n").count == 1,
                "\(result.stderr)"
            )
            #expect(result.stdout.isEmpty)
        }
    }
}

