import Foundation
import GRDB
import SelfHealEvents
import Synchronization
import Testing

@testable import SelfHealStore

/// The append-only log (SPEC section 4) on a real, temporary SQLite file.
@Suite struct EventLogTests {
    final class Directory {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("selfheal-log-\(UUID())").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    static func incoming(_ service: String, id: String? = nil, ts: Int64? = nil) -> IncomingEvent {
        IncomingEvent(
            event: Event(service: service, kind: .poolWarning, timestamp: ts, id: id),
            receivedAt: 1_000,
            peer: Peer(uid: 1, pid: 2)
        )
    }

    @Test func seqIsGaplessInCommitOrderAndDuplicatesAreNotStored() throws {
        let directory = try Directory()
        let store = try EventStore(StoreConfiguration(path: directory.path + "/events.db"))
        let first = try store.append([
            Self.incoming("a", id: "1"), Self.incoming("a", id: "1"), Self.incoming("b", id: "1"),
        ])
        #expect(first.seqs == [1, nil, 2])
        #expect(first.lastSeq == 2)
        let second = try store.append([Self.incoming("a", id: "1"), Self.incoming("a")])
        #expect(second.seqs == [nil, 3])
        let onlyDuplicates = try store.append([Self.incoming("b", id: "1")])
        #expect(onlyDuplicates.seqs == [nil])
        #expect(onlyDuplicates.lastSeq == 3)
        var stored: [StoredEvent] = []
        try store.forEachEvent(EventFilter(since: Timestamp.minimum, until: Timestamp.maximum)) { stored.append($0) }
        #expect(stored.map(\.seq) == [1, 2, 3])
        // The receive time stands in for a missing ts; the peer is kept.
        #expect(stored[0].timestamp == 1_000)
        #expect(stored[0].peer == Peer(uid: 1, pid: 2))
    }

    @Test func theDatabaseItselfRefusesUpdateAndDelete() throws {
        let directory = try Directory()
        let store = try EventStore(StoreConfiguration(path: directory.path + "/events.db"))
        _ = try store.append(
            [Self.incoming("a")],
            rejects: [RejectedLine(receivedAt: 1, line: 1, error: "e", raw: [0xFF], peer: nil)]
        )
        let queue = try DatabaseQueue(path: directory.path + "/events.db")
        #expect(throws: DatabaseError.self) {
            try queue.write { try $0.execute(sql: "UPDATE events SET service = 'b'") }
        }
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "DELETE FROM events") } }
        #expect(throws: DatabaseError.self) {
            try queue.write { try $0.execute(sql: "UPDATE rejects SET error = 'x'") }
        }
        do {
            try queue.write { try $0.execute(sql: "DELETE FROM events") }
        } catch let error as DatabaseError {
            #expect(error.message == "the event log is append-only: DELETE refused")
        }
        #expect(try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events") } == 1)
    }

    @Test func rejectsAreKeptRawAndCutAt64KiB() throws {
        let directory = try Directory()
        let store = try EventStore(StoreConfiguration(path: directory.path + "/events.db"))
        let raw: [UInt8] = [0x7B, 0xC3, 0x28] + [UInt8](repeating: 0x61, count: 70_000)
        _ = try store.append([], rejects: [RejectedLine(receivedAt: 5, line: 3, error: "bad", raw: raw, peer: nil)])
        var rejects: [RejectedLine] = []
        try store.forEachReject(since: 0, until: 10) { rejects.append($0) }
        #expect(rejects.count == 1)
        #expect(rejects[0].raw == Array(raw.prefix(65_536)))
        #expect(rejects[0].line == 3)
        #expect(rejects[0].error == "bad")
    }

    @Test func queriesFilterByRangeServiceAndKind() throws {
        let directory = try Directory()
        let store = try EventStore(StoreConfiguration(path: directory.path + "/events.db"))
        _ = try store.append([
            Self.incoming("a", ts: 100), Self.incoming("b", ts: 200), Self.incoming("a", ts: 300),
            IncomingEvent(event: Event(service: "a", kind: .retryAttempt, timestamp: 200), receivedAt: 1, peer: nil),
        ])
        func seqs(_ filter: EventFilter) throws -> [Int64] {
            var seqs: [Int64] = []
            try store.forEachEvent(filter) { seqs.append($0.seq) }
            return seqs
        }
        #expect(try seqs(EventFilter(since: 100, until: 300)) == [1, 2, 4])
        #expect(try seqs(EventFilter(since: 100, until: 301, service: "a")) == [1, 4, 3])
        #expect(try seqs(EventFilter(since: 0, until: 1_000, kind: "retry.attempt")) == [4])
    }

    @Test func theMigrationsComeFromSchemaFiles() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("schema").path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        #expect(SchemaSQL.files.map { $0.name + ".sql" } == files)
        for (name, sql) in SchemaSQL.files {
            let text = try String(contentsOf: root.appendingPathComponent("schema/\(name).sql"), encoding: .utf8)
            #expect(sql == text)
        }
    }
}
