import Foundation
import Logging
import SelfHealEvents
import SelfHealHTTP
import SelfHealServer
import SelfHealStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `selfheal-bench http [ingest|queries|memory]...`: the HTTP side against the real daemon.
/// - ingest: `POST /api/v1/events` with 1,000-event bodies from 4 clients under `full`, against the socket path in
///   the same run (on a daemon without HTTP, and on the same daemon with HTTP on).
/// - queries: p50/p99 of `GET /api/v1/stats` and `/api/v1/incidents` over one day of a generated store while
///   socket clients ingest flat out.
/// - memory: the resident memory of a real `selfheal serve --http` process with 64 HTTP clients posting.
enum HTTPBenchmark {
    static func run(_ arguments: [String]) async throws {
        let parts = arguments.filter { ["ingest", "queries", "memory"].contains($0) }
        let chosen = Set(parts.isEmpty ? ["ingest", "queries", "memory"] : parts)
        if chosen.contains("ingest") { try await ingest(arguments) }
        if chosen.contains("memory") { try memory(arguments) }
        if chosen.contains("queries") { try await queries(arguments) }
    }

    static let token = "bench-token"

    /// A daemon in this process with HTTP on 127.0.0.1, an OS-chosen port.
    struct RunningDaemon {
        var configuration: ServerConfiguration
        var task: Task<Void, any Error>
        var port: Int

        static func start(_ directory: String, durability: Durability) async throws -> RunningDaemon {
            var logger = Logger(label: "bench")
            logger.logLevel = .error
            let configuration = ServerConfiguration(
                dataDirectory: directory,
                durability: durability,
                http: HTTPConfiguration(
                    address: ListenAddress(host: "127.0.0.1", port: 0),
                    tokens: AccessTokens([HTTPBenchmark.token])
                )
            )
            let task = Task { try await Daemon.run(configuration, logger: logger) }
            let port = try waitForAddress(configuration.httpAddressPath)
            try Clients.waitForSocket(configuration.socketPath)
            return RunningDaemon(configuration: configuration, task: task, port: port)
        }

        func stop() async {
            task.cancel()
            _ = try? await task.value
        }
    }

    static func waitForAddress(_ path: String) throws -> Int {
        for _ in 0..<1_000 {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let colon = text.lastIndex(of: ":"),
                let port = Int(text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return port
            }
            usleep(10_000)
        }
        throw BenchError("the daemon wrote no http.address")
    }

    // MARK: ingest

    static func ingest(_ arguments: [String]) async throws {
        let total = Int(Bench.option(arguments, "events", default: "400000")) ?? 400_000
        let runs = Int(Bench.option(arguments, "runs", default: "3")) ?? 3
        let clients = Int(Bench.option(arguments, "clients", default: "4")) ?? 4
        let bodyEvents = Int(Bench.option(arguments, "body", default: "1000")) ?? 1_000
        let lines = IngestBenchmark.makeLines(total)
        say(
            "http ingest: \(Bench.grouped(Double(total))) events, \(clients) clients, bodies of \(bodyEvents) events "
                + "(socket: sync every \(bodyEvents)), durability full, projections on, median of \(runs) runs"
        )
        var socketAlone: [Double] = []
        var socketWithHTTP: [Double] = []
        var http: [Double] = []
        for _ in 0..<runs {
            socketAlone.append(
                try await IngestBenchmark.socketRate(
                    lines,
                    durability: .full,
                    clients: clients,
                    syncEvery: bodyEvents,
                    projections: true
                )
            )
            socketWithHTTP.append(try await rate(lines, clients: clients, body: bodyEvents, overHTTP: false))
            http.append(try await rate(lines, clients: clients, body: bodyEvents, overHTTP: true))
        }
        let base = Bench.median(socketAlone)
        say("path                              events/s    of socket alone")
        say("socket, daemon without HTTP".padded(34) + Bench.grouped(base))
        for (name, rates) in [("socket, daemon with HTTP on", socketWithHTTP), ("HTTP POST /api/v1/events", http)] {
            let median = Bench.median(rates)
            say(name.padded(34) + Bench.grouped(median).padded(12) + String(format: "%.0f%%", median / base * 100))
        }
        say(
            "runs (events/s): socket alone \(socketAlone.map { Bench.grouped($0) }), socket with HTTP "
                + "\(socketWithHTTP.map { Bench.grouped($0) }), HTTP \(http.map { Bench.grouped($0) })"
        )
    }

    /// Events per second into a daemon with HTTP on, over HTTP bodies or over the socket.
    static func rate(_ lines: [[UInt8]], clients: Int, body: Int, overHTTP: Bool) async throws -> Double {
        let directory = try Bench.temporaryDirectory("http")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try await RunningDaemon.start(directory, durability: .full)
        let share = lines.count / clients
        let failures = Mutex<[String]>([])
        let seconds = try await Bench.seconds {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let group = DispatchGroup()
                for client in 0..<clients {
                    let slice = Array(lines[(client * share)..<((client + 1) * share)])
                    group.enter()
                    Thread {
                        do {
                            if overHTTP {
                                let connection = try BenchHTTPClient(port: daemon.port)
                                for start in stride(from: 0, to: slice.count, by: body) {
                                    let bytes = Array(slice[start..<min(slice.count, start + body)].joined())
                                    let reply = try connection.post(bytes)
                                    guard reply.status == 200 else { throw BenchError("HTTP \(reply.status)") }
                                }
                            } else {
                                try PipelinedClient(path: daemon.configuration.socketPath).send(slice, syncEvery: body)
                            }
                        } catch {
                            failures.withLock { $0.append("\(error)") }
                        }
                        group.leave()
                    }.start()
                }
                group.notify(queue: .global()) { continuation.resume() }
            }
            if let failure = failures.withLock({ $0.first }) { throw BenchError(failure) }
        }
        await daemon.stop()
        let stored = try EventStore(StoreConfiguration(path: daemon.configuration.databasePath)).lastSeq()
        guard stored == Int64(share * clients) else {
            throw BenchError("expected \(share * clients) stored events, found \(stored)")
        }
        return Double(share * clients) / seconds
    }
}

/// A blocking HTTP/1.1 keep-alive client for the benchmarks.
final class BenchHTTPClient: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var yes: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result != 0 {
            close(fd)
            throw BenchError("connect to 127.0.0.1:\(port) failed")
        }
    }

    deinit { close(fd) }

    func post(_ body: [UInt8]) throws -> (status: Int, body: [UInt8]) {
        let head =
            "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(HTTPBenchmark.token)\r\n"
            + "Content-Type: application/x-ndjson\r\nContent-Length: \(body.count)\r\n\r\n"
        try write(Array(head.utf8) + body)
        return try readReply()
    }

    func get(_ path: String) throws -> (status: Int, body: [UInt8]) {
        try write(
            Array(
                "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(HTTPBenchmark.token)\r\n\r\n".utf8
            )
        )
        return try readReply()
    }

    private func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            if written <= 0 { throw BenchError("write failed") }
            offset += written
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { throw BenchError("connection closed") }
        buffer.append(contentsOf: chunk[0..<count])
    }

    private func readReply() throws -> (status: Int, body: [UInt8]) {
        var end: Int?
        while end == nil {
            if buffer.count >= 4 {
                for index in 0...(buffer.count - 4)
                where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13
                    && buffer[index + 3] == 10
                {
                    end = index
                    break
                }
            }
            if end == nil { try fill() }
        }
        let head = String(decoding: buffer[0..<end!], as: UTF8.self)
        buffer.removeFirst(end! + 4)
        let status = Int(head.split(separator: " ")[1]) ?? 0
        var length = 0
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        // The body: what is buffered, then read straight into place (a multi-megabyte answer is not copied
        // chunk by chunk, so that the client's own work stays small in what is measured).
        var body = [UInt8]()
        body.reserveCapacity(length)
        let buffered = min(length, buffer.count)
        body.append(contentsOf: buffer[0..<buffered])
        buffer.removeFirst(buffered)
        if body.count < length {
            body.append(contentsOf: repeatElement(0, count: length - body.count))
            var offset = buffered
            while offset < length {
                let count = body.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, length - offset, 0) }
                if count <= 0 { throw BenchError("connection closed") }
                offset += count
            }
        }
        return (status, body)
    }
}
