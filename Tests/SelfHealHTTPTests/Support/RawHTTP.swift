import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 response as read off the wire.
struct HTTPReply: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body as a JSON object.
    var object: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])) as? [String: Any] ?? [:]
    }

    /// The body as a JSON array.
    var array: [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [[String: Any]] ?? []
    }
}

struct HTTPTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A blocking HTTP/1.1 connection over a plain TCP socket, so tests control every byte: partial bodies,
/// pauses, half-closes, streamed responses. Every read times out after 30 s.
final class RawHTTPConnection {
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, timeoutSeconds: Int = 30) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPTestError("socket() failed") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // A server that answers before reading the whole body (413) stops reading: give up sending then.
        var sendTimeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw HTTPTestError("cannot connect to 127.0.0.1:\(port)")
        }
    }

    deinit { close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { throw HTTPTestError("send failed: \(String(cString: strerror(errno)))") }
            offset += sent
        }
    }

    /// Sends the request line and headers (and `Host`).
    func sendHead(method: String, path: String, headers: [String: String] = [:]) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        try send(head + "\r\n")
    }

    /// No more bytes from this side.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads more bytes; false at end of stream.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 { throw HTTPTestError("read failed: \(String(cString: strerror(errno)))") }
        if count == 0 { return false }
        buffer.append(contentsOf: chunk[0..<count])
        return true
    }

    private func line() throws -> String {
        while true {
            if let index = buffer.firstIndex(of: 0x0A) {
                let line = buffer[..<index]
                buffer.removeFirst(index + 1)
                return String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
            }
            guard try fill() else { throw HTTPTestError("connection closed in the middle of a line") }
        }
    }

    private func bytes(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw HTTPTestError("connection closed in the middle of a body") }
        }
        let taken = Array(buffer[..<count])
        buffer.removeFirst(count)
        return taken
    }

    /// Reads a status line and headers.
    func readHead() throws -> HTTPReply {
        let statusLine = try line()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw HTTPTestError("not an HTTP status line: \(statusLine)")
        }
        var headers: [(String, String)] = []
        while true {
            let header = try line()
            if header.isEmpty { break }
            guard let colon = header.firstIndex(of: ":") else { throw HTTPTestError("bad header \(header)") }
            headers.append(
                (String(header[..<colon]), header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            )
        }
        return HTTPReply(status: status, headers: headers, body: [])
    }

    /// The next chunk of a chunked body; nil after the last.
    func readChunk() throws -> [UInt8]? {
        let sizeLine = try line()
        guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else {
            throw HTTPTestError("bad chunk size \(sizeLine)")
        }
        if size == 0 {
            while try !line().isEmpty {}
            return nil
        }
        let data = try bytes(size)
        _ = try line()
        return data
    }

    /// Reads a whole response.
    func readReply() throws -> HTTPReply {
        var reply = try readHead()
        if let length = reply.header("Content-Length").flatMap({ Int($0) }) {
            reply.body = try bytes(length)
        } else if reply.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while let chunk = try readChunk() { reply.body += chunk }
        } else {
            while try fill() {}
            reply.body = buffer
            buffer = []
        }
        return reply
    }

    /// Whether the server closed the connection (reads end of stream) without sending anything more.
    func readsEndOfStream() -> Bool {
        buffer.isEmpty && ((try? fill()) == false)
    }
}

/// One request on a new connection.
func request(
    _ method: String,
    _ path: String,
    port: Int,
    headers: [String: String] = [:],
    body: [UInt8]? = nil
) throws -> HTTPReply {
    let connection = try RawHTTPConnection(port: port)
    var headers = headers
    if let body { headers["Content-Length"] = String(body.count) }
    headers["Connection"] = "close"
    try connection.sendHead(method: method, path: path, headers: headers)
    if let body { try? connection.send(body) }  // an early answer (413) may stop the server reading
    return try connection.readReply()
}
