import Foundation
import GRDB
import SelfHealEvents
import Testing

@testable import SelfHealStore

/// The hash chain (migration 006): `verify` recomputes it and names the first seq that is not what was committed,
/// even after the triggers are dropped and rows edited or deleted with the sqlite3 shell.
@Suite struct HashChainTests {
    /// Runs SQL through the real sqlite3 shell, as someone tampering with the file would.
    static func sqlite3(_ path: String, _ sql: String) throws {
        let shell = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        let executable = try #require(shell, "these tests need the sqlite3 shell: apt-get install sqlite3")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-bail", path, sql]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "sqlite3 failed: \(message)")
    }

    /// Events with every column in use: NULLs, peers, attrs, non-ASCII text, an empty string, a NUL inside.
    static func varied(_ count: Int, from start: Int = 0) -> [IncomingEvent] {
        (start..<(start + count)).map { index in
            var event = incoming(
                [.poolWarning, .retryAttempt, .breakerOpened, .poolRecovered][index % 4],
                ts: day + Int64(index) * 1_000,
                incident: index % 3 == 0 ? "inc-\(index / 6)" : nil,
                message: index % 5 == 0 ? nil : (index % 5 == 1 ? "" : "pool at 85% — Größe \(index)\u{0}tail"),
                id: index % 2 == 0 ? "evt-\(index)" : nil
            )
            event.event.attributesJSON = index % 4 == 0 ? nil : #"{"used":\#(index),"max":20}"#
            event.peer = index % 7 == 0 ? nil : Peer(uid: 1_000, pid: Int32(index))
            event.receivedAt = day + Int64(index) * 1_000 + 5
            return event
        }
    }

    /// A store of 30 events in 12 commits: seq 1 to 10 one per commit, then 5 commits of 4 (11-14, ..., 27-30),
    /// with a commit of only duplicates in between.
    static func chainedStore() throws -> TemporaryStore {
        let test = try TemporaryStore()
        let events = varied(30)
        for index in 0..<10 { _ = try test.store.append([events[index]]) }
        _ = try test.store.append([events[0]])  // a duplicate only: no link
        for start in stride(from: 10, to: 30, by: 4) { _ = try test.store.append(Array(events[start..<(start + 4)])) }
        return test
    }

    @Test func aCleanLogRecomputesAndItsHeadPinsTheLastSeq() throws {
        let test = try Self.chainedStore()
        let report = try test.store.verify()
        #expect(report.isClean, "\(report.chain.problems) \(report.logProblems)")
        #expect(report.chain.links == 15)
        let head = try #require(try test.store.chainHead())
        #expect(head.seq == 30 && head.hash.count == 64 && report.chain.head == head)
        // Reopened, the head is the same; one more event moves it.
        #expect(try test.reopen().chainHead() == head)
        _ = try test.store.append(Self.varied(1, from: 30))
        let next = try #require(try test.store.chainHead())
        #expect(next.seq == 31 && next.hash != head.hash)
        #expect(try test.store.verify().isClean)
    }

    @Test func anEditWithTheTriggersDroppedNamesItsCommit() throws {
        let test = try Self.chainedStore()
        try Self.sqlite3(
            test.path,
            "DROP TRIGGER events_refuse_update; UPDATE events SET message = 'nothing happened' WHERE seq = 7;"
        )
        var report = try test.store.verify()
        #expect(!report.isClean && report.chain.firstDifferingSeq == 7)
        #expect(report.chain.problems.first?.contains("seq 7 differs") == true, "\(report.chain.problems)")
        // In a commit of four, the commit is named: its first seq is the first that may differ.
        try Self.sqlite3(test.path, "UPDATE events SET level = 'info' WHERE seq = 17;")
        report = try test.store.verify()
        #expect(report.chain.firstDifferingSeq == 7 && report.chain.problems.count == 2)
        #expect(report.chain.problems.last?.contains("seq 15 to 18") == true, "\(report.chain.problems)")
    }

    @Test func anEditOfAnyColumnShows() throws {
        for (column, value) in [
            ("ts", "ts + 1"), ("received_at", "0"), ("service", "'other'"), ("component", "'x'"),
            ("kind", "'retry.attempt'"), ("incident", "NULL"), ("event_id", "'forged'"), ("attrs", "'{}'"),
            ("peer_uid", "0"), ("peer_pid", "NULL"), ("ts", "CAST(ts AS TEXT) || 'x'"),
            ("message", "CAST(message AS BLOB)"),
        ] {
            let test = try Self.chainedStore()
            try Self.sqlite3(
                test.path,
                "DROP TRIGGER events_refuse_update; UPDATE events SET \(column) = \(value) WHERE seq = 4;"
            )
            #expect(try test.store.verify().chain.firstDifferingSeq == 4, "editing \(column) went unseen")
        }
    }

    @Test func aDeletionNamesTheMissingSeq() throws {
        let test = try Self.chainedStore()
        try Self.sqlite3(test.path, "DROP TRIGGER events_refuse_delete; DELETE FROM events WHERE seq = 21;")
        let report = try test.store.verify()
        #expect(report.chain.firstDifferingSeq == 21)
        #expect(report.chain.problems == ["seq 21 is missing from the commit of seq 19 to 22"])
    }

    @Test func aDeletionAtTheEndShowsThoughSeqStaysGapless() throws {
        let test = try Self.chainedStore()
        try Self.sqlite3(test.path, "DROP TRIGGER events_refuse_delete; DELETE FROM events WHERE seq >= 29;")
        let report = try test.store.verify()
        #expect(report.logProblems.isEmpty)
        #expect(!report.isClean && report.chain.firstDifferingSeq == 29)
    }

    @Test func rowsAddedAroundTheDaemonAreInNoLink() throws {
        let test = try Self.chainedStore()
        try Self.sqlite3(
            test.path,
            """
            INSERT INTO events (ts, received_at, service, component, kind, level)
            VALUES (1, 1, 'portal', 'db-pool', 'pool.recovered', 'info');
            """
        )
        let report = try test.store.verify()
        #expect(report.chain.firstDifferingSeq == 31)
        #expect(report.chain.problems.first?.contains("from seq 31 on are in no link") == true)
    }

    @Test func aRewrittenLinkShows() throws {
        let test = try Self.chainedStore()
        try Self.sqlite3(
            test.path,
            "DROP TRIGGER chain_refuse_update; UPDATE chain SET hash = zeroblob(32) WHERE seq = 5;"
        )
        let report = try test.store.verify()
        // The link at 5 no longer matches its rows, and the link at 6 no longer follows it.
        #expect(report.chain.firstDifferingSeq == 5 && report.chain.problems.count == 2)
        try Self.sqlite3(test.path, "DROP TRIGGER chain_refuse_delete; DELETE FROM chain WHERE seq = 5;")
        #expect(try test.store.verify().chain.firstDifferingSeq == 5)
    }

    @Test func theTriggersRefuseTamperingWithTheChain() throws {
        let test = try Self.chainedStore()
        try test.store.database.write { db in
            #expect(throws: DatabaseError.self) { try db.execute(sql: "UPDATE chain SET hash = zeroblob(32)") }
            #expect(throws: DatabaseError.self) { try db.execute(sql: "DELETE FROM chain") }
        }
    }

    /// A store made before migration 006: its events become the first link, hashed by the next commit.
    @Test func eventsFromBeforeTheChainBecomeItsFirstLink() throws {
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent(
            "selfheal-test-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/events.db"
        let queue = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        for migration in SchemaSQL.files where migration.name < "006" {
            migrator.registerMigration(migration.name) { db in try db.execute(sql: migration.text) }
        }
        try migrator.migrate(queue)
        try queue.close()
        try Self.fillWithoutChain(path, Self.varied(12))
        let store = try EventStore(
            StoreConfiguration(path: path, durability: .normal),
            projections: [IncidentProjection()]
        )
        _ = try store.rebuild()
        #expect(try store.verify().isClean)
        let pending = try #require(try store.chainHead())
        #expect(pending.seq == 12)
        _ = try store.append(Self.varied(3, from: 12))
        #expect(try store.chainHead()?.seq == 15)
        #expect(try store.verify().isClean)
        // The pending link's hash, now stored, is the one `chainHead` computed before.
        let first = try store.database.read { db in try Data.fetchOne(db, sql: "SELECT hash FROM chain WHERE seq = 12")
        }
        #expect(first.map { HashChain.hex(Array($0)) } == pending.hash)
        try Self.sqlite3(path, "DROP TRIGGER events_refuse_update; UPDATE events SET ts = 0 WHERE seq = 3;")
        #expect(try store.verify().chain.firstDifferingSeq == 1)
    }

    /// Inserts events with SQL as a version before the chain did, then runs migration 006 on them.
    static func fillWithoutChain(_ path: String, _ events: [IncomingEvent]) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            for incoming in events {
                let event = incoming.event
                try db.execute(
                    sql: """
                        INSERT INTO events (ts, received_at, service, component, kind, level, message, incident,
                            event_id, attrs, peer_uid, peer_pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        incoming.timestamp, incoming.receivedAt, event.service, event.component, event.kind.name,
                        event.effectiveLevel.name, event.message, event.incident, event.id, event.attributesJSON,
                        incoming.peer.map { Int64($0.uid) }, incoming.peer.map { Int64($0.pid) },
                    ]
                )
            }
        }
        try queue.close()
    }
}
