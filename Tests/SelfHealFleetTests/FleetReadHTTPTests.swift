import Foundation
import Logging
import NIOPosix
import SelfHealFleet
import SelfHealHTTP
import SelfHealStore
import ServiceLifecycle
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP API (SelfHealHTTP's, as `central --http` serves it) over a ``FleetReader`` gives the bytes it gives
/// over the local store fed the same events; events differ only by their `"host"`.
@Suite(.serialized) struct FleetReadHTTPTests {
    @Test func theAPIOverTheFleetIsTheLocalOne() async throws {
        let fixture = try await FleetReadCommandTests.fixture.get()
        let local = try EventStore(StoreConfiguration(path: "\(fixture.dataDirectory)/events.db", readOnly: true))
        let fleet = try FleetReader(try FleetStoreURL(fixture.url))
        defer { fleet.close() }
        try await FleetReadAPI.serving(local) { localPort in
            try await FleetReadAPI.serving(fleet) { fleetPort in
                for (path, status) in [
                    ("/api/v1/incidents?since=2025-11-24&until=2025-12-01&as_of=2025-11-26T12:00:00Z", 200),
                    (
                        "/api/v1/incidents?since=2025-11-25&until=2025-11-26&state=failed&service=portal&as_of=2025-12-01",
                        200
                    ),
                    (
                        "/api/v1/stats?since=2025-11-25T03:17:00Z&until=2025-11-27T20:45:30Z&as_of=2025-11-26T12:00:00Z",
                        200
                    ),
                    ("/api/v1/rejects?since=2025-11-24&until=2025-12-01", 200),
                    ("/api/v1/incidents/999999", 404),
                    ("/api/v1/stats?since=tomorrow", 400),
                ] {
                    let expected = try FleetReadAPI.get(path, port: localPort)
                    let answer = try FleetReadAPI.get(path, port: fleetPort)
                    #expect(expected.status == status, "\(path)")
                    #expect(answer.status == status, "\(path)")
                    #expect(answer.body == expected.body, "\(path)")
                    #expect(answer.body.count > (path.contains("rejects") ? 2 : 20), "\(path): \(answer.body)")
                }
                let host = try Regex(#","host":"[^"]*""#)
                for path in [
                    "/api/v1/events?since=2025-11-25&until=2025-11-26&service=portal",
                    "/api/v1/incidents/5?as_of=2025-12-01",
                    "/api/v1/incidents/40?as_of=2025-11-26T00:00:00Z",
                ] {
                    let expected = try FleetReadAPI.get(path, port: localPort)
                    let answer = try FleetReadAPI.get(path, port: fleetPort)
                    #expect(expected.status == 200, "\(path)")
                    #expect(answer.status == 200, "\(path)")
                    #expect(answer.body.contains(#""host":"#), "\(path)")
                    #expect(answer.body.replacing(host, with: "") == expected.body, "\(path)")
                }
            }
        }
    }
}

/// The HTTP API in this process over a reader, on a port the OS chose.
enum FleetReadAPI {
    /// An ingest writer for an API that only reads: every body is refused.
    struct NoWriter: IngestWriter {
        func commit(_ body: IngestBody, waitingAtMost wait: Duration) async -> IngestOutcome { .shuttingDown }
    }

    /// Serves the API over `reader` while `body` runs with its port.
    static func serving(_ reader: any StoreReader, _ body: (Int) async throws -> Void) async throws {
        let addressFile = try FleetReadFixture.temporaryDirectory() + "/http.address"
        let logger = Logger(label: "test")
        let api = try HTTPAPI(
            configuration: HTTPConfiguration(address: ListenAddress(host: "127.0.0.1", port: 0)),
            store: reader,
            writer: NoWriter(),
            metrics: DaemonMetrics(),
            queueDepth: { 0 },
            addressFile: addressFile,
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger
        )
        let group = ServiceGroup(services: [api.service], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body(try await port(addressFile))
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// The port the server wrote into its address file once listening (at most 30 s).
    static func port(_ addressFile: String) async throws -> Int {
        for _ in 0..<3_000 {
            if let text = try? String(contentsOfFile: addressFile, encoding: .utf8),
                let port = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").last
                    .flatMap({ Int($0) })
            {
                return port
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw FixtureError("the HTTP API did not write \(addressFile)")
    }

    /// `GET path` (or another method, with an empty body) with `Connection: close`: the status and the body (chunks joined).
    static func get(_ path: String, port: Int, method: String = "GET") throws -> (status: Int, body: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket() failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw FixtureError("cannot connect to 127.0.0.1:\(port)") }
        let request = Array(
            "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8
        )
        guard send(fd, request, request.count, 0) == request.count else { throw FixtureError("send failed") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw FixtureError("no HTTP answer: \(text)") }
        let head = text[..<split.lowerBound].lowercased()
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        var body = String(text[split.upperBound...])
        if head.contains("transfer-encoding: chunked") {
            var joined = ""
            var rest = Substring(body)
            while let line = rest.range(of: "\r\n"), let size = Int(rest[..<line.lowerBound], radix: 16), size > 0 {
                let start = rest.utf8.index(line.upperBound, offsetBy: 0)
                let end = rest.utf8.index(start, offsetBy: size)
                joined += rest[start..<end]
                rest = rest[end...].dropFirst(2)
            }
            body = joined
        }
        return (status, body)
    }
}
