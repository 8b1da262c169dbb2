import Foundation
import SelfHealStore
import SelfHealing
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Who may write (`serve --allow-uid`, `--allow-gid`, checked with SO_PEERCRED) and the modes of the data
/// directory, with the real daemon process.
@Suite(.serialized)
struct AccessControlTests {
    static func storedCount(_ directory: String) throws -> Int64 {
        try EventStore(StoreConfiguration(path: directory + "/events.db", readOnly: true)).lastSeq()
    }

    @Test func aProcessWhoseUidAndGidAreNotAllowedGetsOneLineAndIsLogged() throws {
        let directory = try TemporaryDirectory()
        let other = getuid() == 65_000 ? "65001" : "65000"
        let daemon = try DaemonProcess(
            dataDirectory: directory.path,
            arguments: ["--allow-uid", other, "--allow-gid", other]
        )
        let client = try daemon.client()
        let lines = try client.readUntilClosed()
        #expect(lines.count == 1)
        let reply = try #require(lines.first)
        #expect(reply.hasPrefix(#"{"op":"sync","ok":false,"error":"uid \#(getuid()) (gid \#(getgid()), pid "#))
        #expect(reply.contains("may not write to this daemon"))
        // What a refused client sends is never stored.
        let sender = try daemon.client()
        try? sender.send(line: #"{"service":"portal","kind":"pool.warning"}"#)
        try? sender.flush()
        _ = try? sender.readUntilClosed()
        #expect(daemon.stop() == 0)
        let refusals = daemon.log.split(separator: "\n").filter { $0.contains("refused a connection") }
        #expect(refusals.count == 2, "\(daemon.log)")
        #expect(refusals.first?.contains("uid \(getuid())") == true)
        #expect(try Self.storedCount(directory.path) == 0)
    }

    @Test func anAllowedUidOrGidWrites() throws {
        for arguments in [
            ["--allow-uid", "\(getuid())"], ["--allow-uid", "65000", "--allow-gid", "\(getgid()),65001"],
        ] {
            let directory = try TemporaryDirectory()
            let daemon = try DaemonProcess(dataDirectory: directory.path, arguments: arguments)
            let client = try daemon.client()
            try client.send(line: #"{"service":"portal","kind":"pool.warning"}"#)
            let reply = try client.sync()
            #expect(reply.ok && reply.accepted == 1, "\(arguments)")
            #expect(daemon.stop() == 0)
            #expect(!daemon.log.contains("refused"))
        }
    }

    @Test func aBadIdListIsRefusedWithOneLine() throws {
        let result = try SelfHealBinary.run(["serve", "--data-dir", "/nonexistent", "--allow-uid", "1000,bob"])
        #expect(result.status != 0)
        #expect(result.stderr.contains(#"--allow-uid takes numeric ids separated by commas, not "bob""#))
    }

    /// The directory is created 0750 and its files 0640 whatever the umask (000 would give 0755 and 0644, 077
    /// would give 0700 and 0600).
    @Test(arguments: ["000", "077"]) func modesHoldWhateverTheUmask(umask: String) throws {
        let parent = try TemporaryDirectory()
        let data = parent.path + "/data"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [
            "-c", "umask \(umask); exec \"$0\" serve --data-dir \"$1\"", SelfHealBinary.url.path, data,
        ]
        let log = Pipe()
        process.standardError = log
        try process.run()
        var text = ""
        while !text.contains("selfheal daemon started") {
            let chunk = log.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        #expect(text.contains("selfheal daemon started"), "\(text)")
        let client = try IngestClient(socketPath: data + "/ingest.sock", timeout: 30)
        try client.send(line: #"{"service":"portal","kind":"pool.warning"}"#)
        #expect(try client.sync().ok)
        func mode(_ path: String) -> mode_t {
            var info = stat()
            return stat(path, &info) == 0 ? info.st_mode & 0o777 : 0
        }
        #expect(mode(data) == 0o750)
        for file in ["events.db", "events.db-wal", "events.db-shm", "daemon.lock"] {
            #expect(mode(data + "/" + file) == 0o640, "\(file) has mode \(String(mode(data + "/" + file), radix: 8))")
        }
        #expect(mode(data + "/ingest.sock") == 0o660)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}
