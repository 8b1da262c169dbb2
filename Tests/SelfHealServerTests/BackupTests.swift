import Foundation
import SelfHealStore
import SelfHealing
import Synchronization
import Testing

/// `selfheal backup DEST` beside a running daemon, and a restore: stop, replace, start, verify; seq and the hash
/// chain go on from the copy's.
@Suite(.serialized)
struct BackupTests {
    final class WriterProgress: Sendable {
        let stop = Atomic<Bool>(false)
        let written = Atomic<Int>(500)
    }

    static func send(_ client: IngestClient, _ count: Int, from start: Int) throws -> SyncReply {
        for index in start..<(start + count) {
            try client.send(line: #"{"service":"portal","kind":"retry.attempt","component":"c","id":"e\#(index)"}"#)
        }
        return try client.sync()
    }

    @Test func aBackupTakenWhileWritingVerifiesAndRestores() throws {
        let directory = try TemporaryDirectory()
        let backups = try TemporaryDirectory()
        var daemon = try DaemonProcess(dataDirectory: directory.path)
        #expect(try Self.send(try daemon.client(), 500, from: 0).ok)
        // A writer keeps committing while the backup runs.
        let progress = WriterProgress()
        let socket = daemon.socketPath
        let finished = DispatchSemaphore(value: 0)
        let firstBatch = DispatchSemaphore(value: 0)
        Thread {
            defer { finished.signal() }
            guard let client = try? IngestClient(socketPath: socket, timeout: 30) else { return }
            while !progress.stop.load(ordering: .relaxed) {
                let start = progress.written.load(ordering: .relaxed)
                guard (try? Self.send(client, 50, from: start))?.ok == true else { return }
                progress.written.store(start + 50, ordering: .relaxed)
                if start == 500 { firstBatch.signal() }
            }
        }.start()
        #expect(firstBatch.wait(timeout: .now() + 60) == .success, "the writer did not commit")
        let copy = backups.path + "/events-copy.db"
        let backup = try SelfHealBinary.run(["backup", "--data-dir", directory.path, copy, "--verify"])
        progress.stop.store(true, ordering: .relaxed)
        finished.wait()
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stdout.contains("verified the copy"), "\(backup.stdout)")
        // Never over an existing file.
        let again = try SelfHealBinary.run(["backup", "--data-dir", directory.path, copy])
        #expect(again.status != 0 && again.stderr.contains("exists"))
        let copied = try EventStore(StoreConfiguration(path: copy, readOnly: true))
        let copiedSeq = try copied.lastSeq()
        let copiedHead = try #require(try copied.chainHead())
        #expect(copiedSeq >= 500 && copiedHead.seq == copiedSeq)
        #expect(progress.written.load(ordering: .relaxed) > 500, "the writer committed nothing during the backup")

        // Restore: stop, replace, start, verify.
        #expect(daemon.stop() == 0)
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: directory.path + "/events.db" + suffix)
        }
        try FileManager.default.copyItem(atPath: copy, toPath: directory.path + "/events.db")
        daemon = try DaemonProcess(dataDirectory: directory.path)
        let reply = try Self.send(try daemon.client(), 5, from: 1_000_000)
        #expect(reply.ok && reply.lastSeq == copiedSeq + 5)
        #expect(daemon.stop() == 0)
        let verify = try SelfHealBinary.run(["verify", "--data-dir", directory.path])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let head = try SelfHealBinary.run(["verify", "--head", "--data-dir", directory.path])
        #expect(head.stdout.hasPrefix("seq \(copiedSeq + 5) sha256 "))
    }
}
