import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `GET /` and its files (SPEC section 9.1) from a real daemon: the embedded bytes of dashboard/, the access
/// rules a browser meets, and `selfheal demo --dashboard`. What the page shows is checked in a real browser by
/// scripts/browser-test-dashboard.py.
@Suite(.serialized) struct DashboardTests {
    /// The package's dashboard/ folder, the source the binary embeds.
    static let sources = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("dashboard")

    @Test func servesTheEmbeddedFilesWithTheirTypes() throws {
        let daemon = try HTTPDaemon()
        for (path, file, type) in [
            ("/", "index.html", "text/html; charset=utf-8"),
            ("/style.css", "style.css", "text/css; charset=utf-8"),
            ("/app.js", "app.js", "text/javascript; charset=utf-8"),
            ("/chart.js", "chart.js", "text/javascript; charset=utf-8"),
        ] {
            let reply = try daemon.get(path)
            #expect(reply.status == 200, "\(path)")
            #expect(reply.header("Content-Type") == type, "\(path)")
            #expect(reply.header("Content-Security-Policy")?.contains("script-src 'self'") == true, "\(path)")
            let source = try String(contentsOf: Self.sources.appendingPathComponent(file), encoding: .utf8)
            #expect(reply.text == source, "\(path) is not dashboard/\(file)")
        }
        #expect(try daemon.get("/?since=-1h").status == 400)
        #expect(try daemon.get("/index.html").status == 404)
        #expect(try request("POST", "/", port: daemon.port, headers: HTTPDaemon.authorized, body: []).status == 405)
    }

    @Test func aBrowserIsAskedForTheTokenAndItsBasicCredentialsWork() throws {
        let daemon = try HTTPDaemon()
        let refused = try daemon.get("/", headers: [:])
        #expect(refused.status == 401)
        let challenges = refused.headers.filter { $0.name.lowercased() == "www-authenticate" }.map(\.value)
        #expect(challenges.contains { $0.hasPrefix("Basic realm=\"selfheal\"") }, "\(challenges)")
        let basic = "Basic " + Data("anyone:\(HTTPDaemon.token)".utf8).base64EncodedString()
        let wrong = "Basic " + Data("anyone:not-the-token".utf8).base64EncodedString()
        for path in ["/", "/app.js", "/api/v1/stats", "/api/v1/incidents"] {
            #expect(try daemon.get(path, headers: ["Authorization": basic]).status == 200, "\(path)")
            #expect(try daemon.get(path, headers: ["Authorization": wrong]).status == 401, "\(path)")
        }
        let connection = try RawHTTPConnection(port: daemon.port)
        try connection.sendHead(method: "GET", path: "/api/v1/stream", headers: ["Authorization": basic])
        let head = try connection.readHead()
        #expect(head.status == 200)
        #expect(head.header("Content-Type") == "text/event-stream")
    }

    @Test func withoutATokenFileThePageNeedsNoCredentials() throws {
        let daemon = try HTTPDaemon(tokens: false)
        let reply = try daemon.get("/", headers: [:])
        #expect(reply.status == 200)
        #expect(reply.text.contains("<script src=\"/app.js\""))
    }

    @Test func theDemoKeepsServingTheDashboardUntilInterrupted() throws {
        let scratch = try ScratchDirectory()
        let directory = scratch.file("demo")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = ["demo", "--dir", directory, "--dashboard", "--http", "127.0.0.1:0"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        var output = ""
        let handle = out.fileHandleForReading
        while !output.contains("until Ctrl-C") {
            let data = handle.availableData
            if data.isEmpty { break }
            output += String(decoding: data, as: UTF8.self)
        }
        let url = try #require(
            output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.hasPrefix("http://127.0.0.1:") },
            "no URL in: \(output)"
        )
        #expect(url.hasSuffix("/#day=2025-11-25"))
        let port = try #require(Int(url.dropFirst("http://127.0.0.1:".count).prefix { $0.isNumber }))
        #expect(try request("GET", "/", port: port).status == 200)
        let stats = try request("GET", "/api/v1/stats?since=2025-11-25&until=2025-11-26&tz=UTC", port: port)
        #expect(stats.status == 200)
        #expect((stats.object["actions"] as? Int ?? 0) > 0, "\(stats.text)")

        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        output += String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("The daemon stopped"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/http.address"))
        #expect((try? request("GET", "/", port: port)) == nil, "the daemon still answers")
    }
}

/// A browser keeps its stream open: the daemon must stop all the same, so that it can be restarted.
@Suite(.serialized) struct StreamShutdownTests {
    @Test func sigtermStopsTheDaemonWhileAStreamIsOpen() throws {
        let daemon = try HTTPDaemon()
        let stream = try StreamReader(port: daemon.port)
        _ = try stream.read { $0.event == "stats" }
        let stopped = DispatchSemaphore(value: 0)
        let status = Mutex<Int32?>(nil)
        DispatchQueue.global().async {
            let code = daemon.stop()
            status.withLock { $0 = code }
            stopped.signal()
        }
        #expect(stopped.wait(timeout: .now() + 20) == .success, "the daemon did not stop within 20 s")
        #expect(status.withLock { $0 } == 0)
        #expect(throws: HTTPTestError.self) { _ = try stream.next() }
    }
}
