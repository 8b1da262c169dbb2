import Foundation
import SelfHealEvents

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking HTTP/1.1 client for the daemon's `POST /api/v1/events` (SPEC section 9): NDJSON in, the sync reply
/// out, with a Bearer token, over one kept-alive TCP connection. Plain `http://` only (a daemon on loopback or
/// behind a TLS-terminating proxy).
///
/// Written on POSIX sockets rather than NIO or AsyncHTTPClient because it runs on the emitter's own thread, where
/// blocking is fine, and so the `SelfHealing` core needs no networking package.
public final class HTTPIngestClient {
    /// An answer of the ingest endpoint.
    public struct Response: Sendable {
        /// The HTTP status.
        public var status: Int
        /// The `Retry-After` header, if any.
        public var retryAfter: String?
        /// The body.
        public var body: [UInt8]
    }

    /// The parts of an `http://host:port/path` address.
    public struct Endpoint: Sendable, Equatable {
        /// The host name or address.
        public var host: String
        /// The port.
        public var port: Int
        /// The path, e.g. `/api/v1/events`.
        public var path: String

        /// Parses `http://host[:port][/path]`; the path defaults to `/api/v1/events`.
        /// - Throws: ``IngestClientError`` naming what is wrong.
        public init(url: String) throws(IngestClientError) {
            guard url.hasPrefix("http://") else {
                throw IngestClientError("the ingest URL must start with http:// (got \(url))")
            }
            let rest = url.dropFirst("http://".count)
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<slash]
            path = slash == rest.endIndex ? "/api/v1/events" : String(rest[slash...])
            if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
                host = String(authority[..<colon])
                guard let port = Int(authority[authority.index(after: colon)...]), (1...65_535).contains(port) else {
                    throw IngestClientError("the ingest URL has a bad port: \(url)")
                }
                self.port = port
            } else {
                host = String(authority)
                port = 80
            }
            host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            guard !host.isEmpty else { throw IngestClientError("the ingest URL has no host: \(url)") }
        }
    }

    private let endpoint: Endpoint
    private let token: String
    private let timeout: Double
    private var descriptor: Int32 = -1
    private var buffer: [UInt8] = []

    /// Creates a client; it connects on the first request.
    /// - Parameters:
    ///   - endpoint: where the daemon's ingest is.
    ///   - token: the Bearer token.
    ///   - timeout: how long a connection or an answer may take, in seconds.
    public init(endpoint: Endpoint, token: String, timeout: Double = 30) {
        self.endpoint = endpoint
        self.token = token
        self.timeout = timeout
    }

    deinit { disconnect() }

    /// Posts an NDJSON body and reads the answer.
    /// - Throws: ``IngestClientError`` when the daemon cannot be reached or the answer is not HTTP.
    public func post(_ body: [UInt8]) throws(IngestClientError) -> Response {
        if descriptor < 0 { try connect() }
        var request = "POST \(endpoint.path) HTTP/1.1\r\nHost: \(endpoint.host):\(endpoint.port)\r\n"
        request += "Authorization: Bearer \(token)\r\nContent-Type: application/x-ndjson\r\n"
        request += "Content-Length: \(body.count)\r\nConnection: keep-alive\r\n\r\n"
        do {
            try write(Array(request.utf8) + body)
            return try readResponse()
        } catch {
            disconnect()
            throw error
        }
    }

    /// Closes the connection.
    public func disconnect() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        buffer.removeAll()
    }

    private func connect() throws(IngestClientError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list) == 0, let first = list else {
            throw IngestClientError("cannot resolve \(endpoint.host)")
        }
        defer { freeaddrinfo(list) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        var reason = "no address"
        while let info = entry {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                var interval = timeval(tv_sec: Int(timeout), tv_usec: .init((timeout - timeout.rounded(.down)) * 1e6))
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    descriptor = fd
                    return
                }
                reason = String(cString: strerror(errno))
                close(fd)
            }
            entry = info.pointee.ai_next
        }
        throw IngestClientError("no daemon answers at http://\(endpoint.host):\(endpoint.port) (\(reason))")
    }

    private func write(_ bytes: [UInt8]) throws(IngestClientError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { raw in
                Glibc.send(descriptor, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw IngestClientError("the daemon closed the HTTP connection (\(String(cString: strerror(errno))))")
            }
            offset += written
        }
    }

    private func fill() throws(IngestClientError) {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            if count < 0 {
                throw IngestClientError(
                    errno == EAGAIN || errno == EWOULDBLOCK
                        ? "the daemon did not answer in time"
                        : "reading from the daemon failed: \(String(cString: strerror(errno)))"
                )
            }
            if count == 0 { throw IngestClientError("the daemon closed the HTTP connection before answering") }
            buffer.append(contentsOf: chunk[..<count])
            return
        }
    }

    private func readLine() throws(IngestClientError) -> String {
        while true {
            if let index = buffer.indices.dropLast().first(where: { buffer[$0] == 0x0D && buffer[$0 + 1] == 0x0A }) {
                let line = String(decoding: buffer[..<index], as: UTF8.self)
                buffer.removeSubrange(...(index + 1))
                return line
            }
            if buffer.count > 64 * 1024 { throw IngestClientError("the daemon's HTTP header line is too long") }
            try fill()
        }
    }

    private func readBytes(_ count: Int) throws(IngestClientError) -> [UInt8] {
        while buffer.count < count { try fill() }
        let bytes = Array(buffer[..<count])
        buffer.removeFirst(count)
        return bytes
    }

    private func readResponse() throws(IngestClientError) -> Response {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw IngestClientError("not an HTTP answer from the daemon: \(statusLine.prefix(100))")
        }
        var headers: [String: String] = [:]
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces
            )
        }
        var body: [UInt8] = []
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16)
                else { throw IngestClientError("bad chunk in the daemon's answer") }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                body += try readBytes(size)
                _ = try readLine()
            }
        } else if let length = headers["content-length"].flatMap(Int.init) {
            body = try readBytes(length)
        }
        if headers["connection"]?.lowercased() == "close" { disconnect() }
        return Response(status: status, retryAfter: headers["retry-after"], body: body)
    }
}
