import Foundation
import SelfHealEvents
import SelfHealStore
import SelfHealing
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The daemon as a real process over a real UNIX socket (SPEC sections 2, 3 and 6).
@Suite(.serialized)
struct DaemonTests {
    static func event(_ service: String, _ kind: String, id: String? = nil, extra: String = "") -> String {
        var line = #"{"service":"\#(service)","kind":"\#(kind)""#
        if let id { line += #","id":"\#(id)""# }
        return line + extra + "}"
    }

    /// All stored events, in seq order.
    static func storedEvents(_ dataDirectory: String) throws -> [StoredEvent] {
        let store = try EventStore(StoreConfiguration(path: dataDirectory + "/events.db"))
        var events: [StoredEvent] = []
        try store.forEachEvent(EventFilter(since: Timestamp.minimum, until: Timestamp.maximum)) { events.append($0) }
        return events.sorted { $0.seq < $1.seq }
    }

    @Test func syncCountsAcceptedDuplicatesAndRejected() throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        let client = try daemon.client()
        try client.send(line: Self.event("portal", "pool.warning", id: "a"))
        try client.send(line: Self.event("portal", "pool.warning", id: "b"))
        try client.send(line: Self.event("portal", "pool.warning", id: "a"))
        try client.send(line: #"{"service":"portal"}"#)
        let first = try client.sync()
        #expect(first.ok)
        #expect(first.accepted == 2)
        #expect(first.duplicates == 1)
        #expect(first.rejected == 1)
        #expect(first.lastSeq == 2)
        #expect(first.errors == [.init(line: 4, error: #"missing required field "kind""#)])
        // Counts are since the connection opened; errors only since the previous sync.
        try client.send(line: Self.event("portal", "retry.attempt"))
        let second = try client.sync()
        #expect(second.accepted == 3)
        #expect(second.duplicates == 1)
        #expect(second.rejected == 1)
        #expect(second.errors.isEmpty)
        #expect(second.lastSeq == 3)
        // A later connection sees the same (service, id) as a duplicate too.
        let other = try daemon.client()
        try other.send(line: Self.event("portal", "pool.warning", id: "b"))
        try other.send(line: Self.event("billing", "pool.warning", id: "b"))
        let third = try other.sync()
        #expect(third.accepted == 1)
        #expect(third.duplicates == 1)
        #expect(try other.ping() == SelfHealVersion.current)
        #expect(daemon.stop() == 0)
        let stored = try Self.storedEvents(directory.path)
        #expect(stored.map(\.seq) == [1, 2, 3, 4])
        #expect(stored.map(\.event.id) == ["a", "b", nil, "b"])
        #expect(stored[0].peer?.pid == getpid())
    }

    @Test func badLinesAreRejectedWithTheirLineNumbersAndKept() throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        let client = try daemon.client()
        let lines: [(String, String?)] = [
            (Self.event("svc", "pool.warning"), nil),
            (#"{"service":"svc","kind":"pool.warnign"}"#, #"unknown kind "pool.warnign""#),
            (#"{"servce":"svc","kind":"pool.warning"}"#, #"unknown field "servce""#),
            ("", nil),  // blank lines are ignored, but numbered
            (
                #"{"service":"svc","kind":"pool.warning","ts":"yesterday"}"#,
                #""ts" is not RFC 3339 or epoch milliseconds"#
            ),
            (#"[1,2]"#, "line is a JSON an array, not an object"),
            (#"{"service":"svc","kind":"pool.warning","level":"fatal"}"#, nil),
            (#"{"service":"bad service!","kind":"pool.warning"}"#, nil),
            (#"{"service":"svc","kind":"pool.warning","v":2}"#, #""v" must be 1"#),
            (#"{"service":"svc","kind":"pool.warning""#, nil),
            (Self.event("svc", "x.cache.miss"), nil),
            (#"{"op":"flush"}"#, #"unknown op "flush""#),
        ]
        for (line, _) in lines { try client.send(line: line) }
        try client.send(bytes: Array(#"{"service":"svc","kind":"pool.warning","message":"caf"#.utf8) + [0xC3, 0x28])
        try client.send(bytes: Array(#""}"#.utf8) + [0x0A])
        let reply = try client.sync()
        #expect(reply.ok)
        #expect(reply.accepted == 2)
        #expect(reply.rejected == 10)
        #expect(reply.errors.map(\.line) == [2, 3, 5, 6, 7, 8, 9, 10, 12, 13])
        for (index, (_, expected)) in lines.enumerated() {
            guard let expected else { continue }
            #expect(reply.errors.first { $0.line == index + 1 }?.error == expected)
        }
        #expect(reply.errors.first { $0.line == 13 }?.error == #""message" is not valid UTF-8"#)
        #expect(daemon.stop() == 0)
        // Rejected lines are kept with their error, raw.
        let result = try SelfHealBinary.run([
            "rejects", "--data-dir", directory.path, "--since", "-1h", "--until", "now",
            "--format", "ndjson",
        ])
        #expect(result.status == 0)
        let rejects = result.stdout.split(separator: "\n")
        #expect(rejects.count == 10)
        #expect(rejects[0].contains(#""error":"unknown kind \"pool.warnign\"""#))
        #expect(rejects[0].contains(#""raw":"{\"service\":\"svc\",\"kind\":\"pool.warnign\"}""#))
    }

    @Test func aLineOver64KiBIsRejectedAndTheConnectionStaysUsable() throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        let client = try daemon.client()
        let long =
            #"{"service":"svc","kind":"pool.warning","message":""# + String(repeating: "x", count: 70_000) + #""}"#
        try client.send(line: Self.event("svc", "pool.warning", id: "before"))
        try client.send(line: long)
        try client.send(line: Self.event("svc", "pool.warning", id: "after"))
        // Exactly 65,536 bytes is still accepted (the limit does not count the line end).
        let prefix = #"{"service":"svc","kind":"x.fill","attrs":{"pad":""#
        let exact = prefix + String(repeating: "y", count: 65_536 - prefix.utf8.count - 3) + #""}}"#
        #expect(exact.utf8.count == 65_536)
        try client.send(line: exact)
        let reply = try client.sync()
        #expect(reply.accepted == 3)
        #expect(reply.rejected == 1)
        #expect(reply.errors == [.init(line: 2, error: "line is longer than 65536 bytes")])
        #expect(daemon.stop() == 0)
        let stored = try Self.storedEvents(directory.path)
        #expect(stored.map(\.event.id) == ["before", "after", nil])
        let rejects = try SelfHealBinary.run(["rejects", "--data-dir", directory.path, "--format", "ndjson"])
        // Kept raw, cut at 64 KiB.
        #expect(rejects.stdout.utf8.count > 65_536)
        #expect(rejects.stdout.utf8.count < 66_000)
    }

    @Test func aFinalLineWithoutNewlineCountsWhenTheClientCloses() throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        let client = try daemon.client()
        try client.send(line: Self.event("svc", "pool.warning", id: "1") + "\r")  // \r\n is tolerated
        try client.send(line: #"{"op":"sync"}"#)
        try client.send(bytes: Array(Self.event("svc", "pool.recovered", id: "2").utf8))
        try client.finishSending()
        let replies = try client.readUntilClosed()
        #expect(replies.count == 1)
        #expect(replies.first?.contains(#""accepted":1"#) == true)
        // The connection is closed only after its last line was handed to the writer: a later sync covers it.
        let later = try daemon.client()
        _ = try later.sync()
        #expect(try Self.storedEvents(directory.path).map(\.event.id) == ["1", "2"])
        #expect(daemon.stop() == 0)
    }

    @Test func eightClientsAtOnce() async throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        let perClient = 2_000
        let replies = try await withThrowingTaskGroup(of: SyncReply.self) { group in
            for clientIndex in 0..<8 {
                group.addTask {
                    let client = try daemon.client()
                    for index in 0..<perClient {
                        try client.send(line: Self.event("svc-\(clientIndex)", "retry.attempt", id: "\(index)"))
                        if index % 500 == 499 { _ = try client.sync() }
                    }
                    return try client.sync()
                }
            }
            var replies: [SyncReply] = []
            for try await reply in group { replies.append(reply) }
            return replies
        }
        #expect(replies.count == 8)
        #expect(replies.allSatisfy { $0.ok && $0.accepted == perClient && $0.rejected == 0 && $0.duplicates == 0 })
        #expect(daemon.stop() == 0)
        let stored = try Self.storedEvents(directory.path)
        #expect(stored.count == 8 * perClient)
        #expect(stored.map(\.seq) == Array(1...Int64(8 * perClient)))
    }

    @Test func aSecondDaemonOnTheSameDirectoryIsRefused() throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        let second = try SelfHealBinary.run(["serve", "--data-dir", directory.path])
        #expect(second.status == 1)
        #expect(second.stderr.contains("another selfheal daemon (pid \(daemon.pid)) already serves"))
        #expect(second.stderr.split(separator: "\n").count == 1)
        // The first one is unharmed.
        #expect(try daemon.client().ping() == SelfHealVersion.current)
        #expect(daemon.stop() == 0)
    }

    @Test func aStaleSocketIsReplacedAndTheModeApplies() throws {
        let directory = try TemporaryDirectory()
        let socketPath = directory.path + "/ingest.sock"
        // Leave a socket file behind, as a killed daemon would.
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        daemon.stop(signal: SIGKILL)
        #expect(FileManager.default.fileExists(atPath: socketPath))
        let restarted = try DaemonProcess(dataDirectory: directory.path, arguments: ["--socket-mode", "0600"])
        var info = stat()
        #expect(stat(socketPath, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(try restarted.client().ping() == SelfHealVersion.current)
        #expect(restarted.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: socketPath))
    }

    @Test func sigtermCommitsWhatWasReadAnswersAndExitsZero() throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        let idle = try daemon.client()  // an idle connection must not keep the daemon alive
        let client = try daemon.client()
        for index in 0..<100 { try client.send(line: Self.event("svc", "retry.attempt", id: "\(index)")) }
        #expect(try client.sync().accepted == 100)
        #expect(daemon.stop(signal: SIGTERM) == 0)
        #expect(daemon.log.contains("selfheal daemon stopped"))
        #expect(try Self.storedEvents(directory.path).count == 100)
        _ = idle
        let sigint = try DaemonProcess(dataDirectory: directory.path)
        #expect(sigint.stop(signal: SIGINT) == 0)
    }

    @Test func everyAcknowledgedEventSurvivesSIGKILL() async throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        // Two writers; the daemon is killed while they are still sending.
        let acknowledged = try await withThrowingTaskGroup(of: [String].self) { group in
            for writer in 0..<2 {
                group.addTask {
                    let client = try daemon.client()
                    var acked: [String] = []
                    var pending: [String] = []
                    for index in 0..<100_000 {
                        let id = "w\(writer)-\(index)"
                        do {
                            try client.send(line: Self.event("crash", "retry.attempt", id: id))
                            pending.append(id)
                            if index % 200 == 199 {
                                let reply = try client.sync()
                                if reply.ok { acked += pending }
                                pending = []
                            }
                        } catch {
                            return acked
                        }
                    }
                    return acked
                }
            }
            group.addTask {
                // Kill once a few thousand events are acknowledged, mid-stream.
                let watcher = try daemon.client()
                while try watcher.sync().lastSeq < 5_000 {}
                daemon.stop(signal: SIGKILL)
                return []
            }
            var all: [String] = []
            for try await ids in group { all += ids }
            return all
        }
        #expect(daemon.terminationReason == .uncaughtSignal)
        #expect(acknowledged.count >= 5_000)
        let restarted = try DaemonProcess(dataDirectory: directory.path)
        #expect(restarted.stop() == 0)
        let stored = try Self.storedEvents(directory.path)
        let storedIDs = Set(stored.compactMap(\.event.id))
        #expect(acknowledged.allSatisfy { storedIDs.contains($0) })
        #expect(stored.map(\.seq) == Array(1...Int64(stored.count)))
    }

    @Test func emitAndIngestWithoutADaemonFailClearly() throws {
        let directory = try TemporaryDirectory()
        let emit = try SelfHealBinary.run([
            "emit", "--data-dir", directory.path, "--service", "svc", "--kind", "pool.warning",
        ])
        #expect(emit.status == 1)
        #expect(emit.stderr.hasPrefix("selfheal: no daemon answers at \(directory.path)/ingest.sock"))
        let ingest = try SelfHealBinary.run(["ingest", "--data-dir", directory.path], stdin: Data("{}\n".utf8))
        #expect(ingest.status == 1)
        #expect(ingest.stderr.contains("no daemon answers"))
    }

    /// `status` asks the daemon itself (a ping on its socket), not only its lock: up and answering exits 0 with
    /// its version; a daemon that holds the lock but cannot answer (stopped with SIGSTOP here) and a daemon that
    /// is gone exit 3, each saying which it is.
    @Test func statusPingsTheDaemonAndExitsThreeWhenItDoesNotAnswer() throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        let up = try SelfHealBinary.run(["status", "--data-dir", directory.path])
        #expect(up.status == 0, "\(up.stderr)")
        #expect(
            up.stdout.hasPrefix(
                "daemon: up (pid \(daemon.pid)), answers on \(daemon.socketPath) (selfheal \(SelfHealVersion.current))\n"
            ),
            "\(up.stdout)"
        )
        let json = try SelfHealBinary.run(["status", "--data-dir", directory.path, "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let daemonObject = try #require(object?["daemon"] as? [String: Any])
        #expect(daemonObject["answers"] as? Bool == true)
        #expect(daemonObject["version"] as? String == SelfHealVersion.current)

        kill(daemon.pid, SIGSTOP)
        let stopped = try SelfHealBinary.run(["status", "--data-dir", directory.path])
        kill(daemon.pid, SIGCONT)
        #expect(stopped.status == 3)
        #expect(
            stopped.stdout.hasPrefix("daemon: up (pid \(daemon.pid)) but does not answer on \(daemon.socketPath): "),
            "\(stopped.stdout)"
        )
        #expect(stopped.stdout.contains("did not answer in time"), "\(stopped.stdout)")

        let status = daemon.stop()
        #expect(status == 0, "\(daemon.log)")
        let down = try SelfHealBinary.run(["status", "--data-dir", directory.path])
        #expect(down.status == 3)
        #expect(down.stdout.hasPrefix("daemon: down\nlast seq: 0\n"), "\(down.stdout)")
        #expect(down.stderr.isEmpty, "\(down.stderr)")
    }

    /// Connections waiting to be accepted when a shutdown starts are refused cleanly: the daemon exits 0. (Closing
    /// them before NIO had registered them crashed it: the SIGSTOP of the status test above found it.) The
    /// connections are queued while the daemon is stopped, with SIGTERM pending, so they are accepted as it stops.
    @Test func connectionsAcceptedDuringShutdownAreRefusedAndTheDaemonExitsCleanly() throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        let client = try daemon.client()
        try client.send(line: Self.event("checkout", "pool.warning"))
        #expect(try client.sync().accepted == 1, "the event was not stored")
        kill(daemon.pid, SIGSTOP)
        let waiting = try (0..<32).map { _ in try IngestClient.connect(socketPath: daemon.socketPath) }
        defer { for descriptor in waiting { close(descriptor) } }
        kill(daemon.pid, SIGTERM)
        kill(daemon.pid, SIGCONT)
        let status = daemon.stop()
        #expect(status == 0, "\(daemon.log)")
        #expect(daemon.terminationReason == .exit)
        #expect(try Self.storedEvents(directory.path).count == 1)
    }
}
