import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `/healthz` turns 503 after a failed commit and 200 again after a good one: the store on a small tmpfs that a
/// filler file fills (needs root, for `mount`).
@Suite(.serialized) struct HealthTests {
    @Test func healthFollowsTheCommits() throws {
        let scratch = try ScratchDirectory()
        let mountPoint = scratch.file("small")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mounted = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint])
        try #require(mounted == 0, "this test mounts a 4 MiB tmpfs: run it as root (or with CAP_SYS_ADMIN)")
        defer { _ = try? run("/bin/umount", ["-l", mountPoint]) }
        let data = try ScratchDirectory(at: (mountPoint as NSString).appendingPathComponent("data"))
        let daemon = try HTTPDaemon(directory: data)
        #expect(try daemon.post(eventLines(10)).status == 200)
        #expect(try daemon.get("/healthz", headers: [:]).status == 200)

        // Fill the file system, then send a body the store cannot hold.
        let filler = (mountPoint as NSString).appendingPathComponent("filler")
        _ = try run("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=64k"])
        let message = String(repeating: "m", count: 2_000)
        let big = (0..<400).map {
            "{\"service\":\"full\",\"kind\":\"retry.attempt\",\"id\":\"f\($0)\",\"message\":\"\(message)\"}\n"
        }
        .joined()
        let refused = try daemon.post(big)
        #expect(refused.status == 503)
        #expect(refused.object["ok"] as? Bool == false)
        #expect(refused.header("Retry-After") == "5")
        let failing = try daemon.get("/healthz", headers: [:])
        #expect(failing.status == 503)
        #expect(failing.object["status"] as? String == "failing")
        #expect((failing.object["error"] as? String)?.isEmpty == false)

        try FileManager.default.removeItem(atPath: filler)
        let accepted = try daemon.post(big)
        #expect(accepted.status == 200)
        #expect(accepted.object["accepted"] as? Int == 400)
        #expect(try daemon.get("/healthz", headers: [:]).text == "{\"status\":\"ok\"}\n")
        let metrics = try PrometheusText(parsing: daemon.get("/metrics").text)
        #expect(metrics.value("selfheal_commit_failures_total") == 1)
        #expect(daemon.stop() == 0)
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
