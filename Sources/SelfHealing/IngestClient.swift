import Foundation
import SelfHealEvents

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why talking to the daemon failed.
public struct IngestClientError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in one line a person can act on.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// A blocking connection to the daemon's UNIX socket: write lines, then sync to learn they are committed.
///
/// For command-line tools and tests; services should use the non-blocking emitter.
public final class IngestClient {
    private let descriptor: Int32
    private var readBuffer: [UInt8] = []
    private var writeBuffer: [UInt8] = []

    /// Connects to the daemon's socket.
    /// - Parameters:
    ///   - socketPath: the daemon's socket.
    ///   - timeout: how long a reply may take before the client gives up, in seconds.
    public init(socketPath: String, timeout: Double = 30) throws(IngestClientError) {
        let fd = try Self.connect(socketPath: socketPath)
        var interval = timeval(tv_sec: Int(timeout), tv_usec: .init((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// A blocking stream socket connected to the daemon's socket; the caller closes it.
    public static func connect(socketPath: String) throws(IngestClientError) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else {
            throw IngestClientError("socket path is longer than \(capacity - 1) bytes: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw IngestClientError("cannot create a socket: \(String(cString: strerror(errno)))") }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw IngestClientError("no daemon answers at \(socketPath) (\(reason)); start one with 'selfheal serve'")
        }
        return fd
    }

    /// Queues one line (a `\n` is added); it is written when the buffer fills or on ``flush()``.
    public func send(line: String) throws(IngestClientError) {
        writeBuffer.append(contentsOf: line.utf8)
        writeBuffer.append(0x0A)
        if writeBuffer.count >= 64 * 1024 { try flush() }
    }

    /// Queues raw bytes as they are, for sending files unchanged.
    public func send(bytes: [UInt8]) throws(IngestClientError) {
        writeBuffer.append(contentsOf: bytes)
        if writeBuffer.count >= 64 * 1024 { try flush() }
    }

    /// Queues an event as a wire line.
    public func send(_ event: Event) throws(IngestClientError) {
        try send(line: event.wireLine)
    }

    /// Writes everything queued.
    public func flush() throws(IngestClientError) {
        var offset = 0
        while offset < writeBuffer.count {
            let written = writeBuffer[offset...].withUnsafeBytes { raw in
                Glibc.send(descriptor, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw IngestClientError("the daemon closed the connection (\(String(cString: strerror(errno))))")
            }
            offset += written
        }
        writeBuffer.removeAll(keepingCapacity: true)
    }

    /// Sends `{"op":"sync"}` and waits for the reply: every line sent before is then committed.
    public func sync() throws(IngestClientError) -> SyncReply {
        try send(line: #"{"op":"sync"}"#)
        try flush()
        let line = try readLine()
        do {
            return try JSONDecoder().decode(SyncReply.self, from: Data(line.utf8))
        } catch {
            throw IngestClientError("unexpected reply from the daemon: \(line.prefix(200))")
        }
    }

    /// Sends `{"op":"ping"}` and returns the daemon's version.
    public func ping() throws(IngestClientError) -> String {
        try send(line: #"{"op":"ping"}"#)
        try flush()
        let line = try readLine()
        guard let pong = try? JSONDecoder().decode(PongReply.self, from: Data(line.utf8)), pong.op == "pong" else {
            throw IngestClientError("unexpected reply from the daemon: \(line.prefix(200))")
        }
        return pong.version
    }

    /// Writes everything queued, then closes the sending side: the daemon reads a final line without `\n`
    /// as a line, commits what it read and answers pending syncs before it closes the connection.
    public func finishSending() throws(IngestClientError) {
        try flush()
        shutdown(descriptor, Int32(SHUT_WR))
    }

    /// Reads reply lines until the daemon closes the connection.
    public func readUntilClosed() throws(IngestClientError) -> [String] {
        var lines: [String] = []
        while true {
            do {
                lines.append(try readLine())
            } catch {
                if error.message == Self.closedMessage { return lines }
                throw error
            }
        }
    }

    private static let closedMessage = "the daemon closed the connection before answering"

    /// Reads one reply line.
    private func readLine() throws(IngestClientError) -> String {
        while true {
            if let newline = readBuffer.firstIndex(of: 0x0A) {
                let line = String(decoding: readBuffer[..<newline], as: UTF8.self)
                readBuffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw IngestClientError("the daemon did not answer in time")
                }
                throw IngestClientError("reading from the daemon failed: \(String(cString: strerror(errno)))")
            }
            if count == 0 { throw IngestClientError(Self.closedMessage) }
            readBuffer.append(contentsOf: chunk[..<count])
        }
    }
}
