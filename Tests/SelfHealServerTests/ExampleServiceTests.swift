import Foundation
import SelfHealing
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The Hummingbird example (`Examples/selfheal-service`) run as a real process against a real daemon: an outage
/// of its dependency is healed (retries, breaker, cached answer, health 503), and every incident it reported is
/// resolved in the daemon's store once the dependency is back.
@Suite(.serialized)
struct ExampleServiceTests {
    /// The example's process, and the port it printed.
    final class ExampleProcess {
        let process = Process()
        let port: Int

        init(arguments: [String]) throws {
            process.executableURL = SelfHealBinary.url.deletingLastPathComponent()
                .appendingPathComponent("selfheal-service-example")
            process.arguments = arguments
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            var text = ""
            while !text.contains("\n") {
                let data = out.fileHandleForReading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
            }
            guard let range = text.range(of: "listening on 127.0.0.1:"),
                let port = Int(text[range.upperBound...].prefix { $0.isNumber })
            else { throw SetupError("the example did not start: \(text)") }
            self.port = port
        }

        func stop() -> Int32 {
            process.terminate()
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    struct SetupError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static func request(_ method: String, _ url: String) async throws -> (Int, [String: String], String) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields { headers[String(describing: key).lowercased()] = "\(value)" }
        return (http.statusCode, headers, String(decoding: data, as: UTF8.self))
    }

    @Test func anOutageIsHealedAndEveryIncidentEndsInTheDaemon() async throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        defer { _ = daemon.stop() }
        // Long enough that the breaker is still open when the health route is asked, on a loaded machine too
        // (300 ms, then 3 s, once let it half-open first while other test daemons ran), short enough for the
        // recovery below. Under a sanitizer (scripts/sanitize.sh sets SELFHEAL_SANITIZER) the example service runs
        // many times slower: 3 s, 8 s and 30 s let it half-open before the health route was asked, under TSan with
        // the whole suite at once.
        let resetMilliseconds = ProcessInfo.processInfo.environment["SELFHEAL_SANITIZER"] == nil ? 8_000 : 90_000
        let example = try ExampleProcess(arguments: [
            "--socket", directory.path + "/ingest.sock", "--spill", directory.path + "/example-spill.ndjson",
            "--port", "0", "--reset-ms", String(resetMilliseconds),
        ])
        let base = "http://127.0.0.1:\(example.port)"
        let assistance = base + "/api/manager/assistance?user=7"

        var (status, headers, body) = try await Self.request("GET", assistance)
        #expect(status == 200 && headers["x-cache"] == "miss" && body.contains(#""user":"7""#))
        #expect(try await Self.request("POST", base + "/admin/dependency?state=down").0 == 204)
        // Down: three attempts fail, the breaker opens, the last good answer for this user stands in.
        (status, headers, body) = try await Self.request("GET", assistance)
        #expect(status == 200 && headers["x-cache"] == "hit" && body.contains(#""user":"7""#))
        // Another user has no cached answer (never another user's): the open circuit is a 503 with Retry-After.
        let other = try await Self.request("GET", base + "/api/manager/assistance?user=8")
        #expect(other.0 == 503 && other.1["retry-after"] != nil)
        (status, _, body) = try await Self.request("GET", base + "/api/health?detailed=true")
        #expect(status == 503)
        #expect(body.contains(#""assistance-api":{"status":"down""#))

        // Back up: the breaker half-opens on its timer and the next call closes it. The deadline only guards
        // against a hang.
        #expect(try await Self.request("POST", base + "/admin/dependency?state=up").0 == 204)
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(resetMilliseconds) + .seconds(60))
        repeat {
            try await Task.sleep(for: .milliseconds(50))
            (status, headers, _) = try await Self.request("GET", assistance)
        } while headers["x-cache"] != "miss" && ContinuousClock.now < deadline
        #expect(headers["x-cache"] == "miss")
        (status, _, body) = try await Self.request("GET", base + "/api/health?detailed=true")
        #expect(status == 200, "\(body)")
        #expect(try await Self.request("GET", base + "/api/health").0 == 200)

        // SIGTERM: the server stops, then the emitter drains to the daemon.
        #expect(example.stop() == 0)
        let listed = try SelfHealBinary.run([
            "incidents", "--data-dir", directory.path, "--since", "-1h",
            "--until", Date(timeIntervalSinceNow: 3_600).ISO8601Format(), "--format", "json",
        ])
        #expect(listed.status == 0, "\(listed.stderr)")
        let incidents = try #require(
            try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]
        )
        #expect(!incidents.isEmpty)
        #expect(incidents.contains { $0["component"] as? String == "assistance-api" })
        for incident in incidents {
            let component = incident["component"] as? String ?? "?"
            // The outage's retries were exhausted (failed); the breaker's closing ended it all the same.
            #expect(["resolved", "failed"].contains(incident["state"] as? String ?? "?"), "\(component): \(incident)")
            #expect(incident["resolved_at"] is String, "\(component) was never ended")
        }
    }
}
