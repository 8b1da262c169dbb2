import Foundation
import SelfHealEvents
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bounded NDJSON file of wire lines the daemon has not confirmed yet, replayed in order when it is back.
///
/// Lines keep their event ids, so a line replayed twice (the daemon stored it, but the confirmation was lost) is
/// counted by the daemon as a duplicate, not stored again. When the file is at `maxBytes`, further lines are
/// dropped and counted. A torn last line (the process died mid-write) is cut off when the file is opened.
///
/// Replayed lines are not cut out of the file one batch at a time (that would rewrite the rest of the file for
/// every batch): a head offset, kept in `PATH.head`, says where the unconfirmed lines start. The file is
/// emptied when the head reaches its end, and compacted only when an append needs the room. The head is always
/// written before the file changes, so a crash can make lines replay twice (deduplicated by id), never skip one.
public final class SpillFile: Sendable {
    private struct State {
        var descriptor: Int32
        /// Bytes in the file, confirmed ones included.
        var size: Int
        /// Where the unconfirmed lines start.
        var head: Int
        var dropped = 0
    }

    /// The file's path.
    public let path: String
    /// The most bytes the file may hold.
    public let maxBytes: Int
    private let state: Mutex<State>

    /// Opens (or creates, mode 0600) the spill file.
    /// - Parameters:
    ///   - path: where the file lives.
    ///   - maxBytes: the most bytes it may hold. Default 16 MiB.
    /// - Throws: ``IngestClientError`` when the file cannot be opened.
    public init(path: String, maxBytes: Int = 16 << 20) throws(IngestClientError) {
        self.path = path
        self.maxBytes = max(1, maxBytes)
        let descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw IngestClientError("cannot open spill file \(path): \(String(cString: strerror(errno)))")
        }
        var size = Int(lseek(descriptor, 0, SEEK_END))
        size = SpillFile.cutTornTail(descriptor, size: size)
        var head = SpillFile.readHead(path + ".head")
        // A head past the end, or not at a line start, cannot be trusted: replay everything (ids deduplicate).
        if head > size || (head > 0 && !SpillFile.isLineStart(descriptor, head)) { head = 0 }
        state = Mutex(State(descriptor: descriptor, size: size, head: head))
    }

    deinit {
        state.withLock { _ = close($0.descriptor) }
    }

    /// Bytes of unconfirmed lines in the file.
    public var byteCount: Int { state.withLock { $0.size - $0.head } }
    /// Whether the file holds no line.
    public var isEmpty: Bool { byteCount == 0 }
    /// Lines dropped because the file was full, since it was opened.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    /// Appends lines (a `\n` is added to each) while they fit; returns how many were written.
    /// - Parameters:
    ///   - lines: wire lines, without line ends.
    ///   - waiting: whether to wait while another thread uses the file; when `false` and it is busy, nothing is
    ///     written (for callers that must not block).
    @discardableResult
    public func append(_ lines: [String], waiting: Bool = true) -> Int {
        if waiting { return state.withLock { append(lines, to: &$0) } }
        return state.withLockIfAvailable { append(lines, to: &$0) } ?? 0
    }

    private func append(_ lines: [String], to state: inout State) -> Int {
        let needed = lines.reduce(0) { $0 + $1.utf8.count + 1 }
        if state.head > 0 && state.size + needed > maxBytes { compact(&state) }
        var buffer: [UInt8] = []
        var written = 0
        for line in lines {
            let length = line.utf8.count + 1
            if state.size + buffer.count + length > maxBytes {
                state.dropped += lines.count - written
                break
            }
            buffer.append(contentsOf: line.utf8)
            buffer.append(0x0A)
            written += 1
        }
        guard !buffer.isEmpty else { return 0 }
        if SpillFile.writeAll(state.descriptor, buffer) {
            state.size += buffer.count
            return written
        }
        // A failed write may have left part of a line: cut back to the last whole one.
        state.size = SpillFile.cutTornTail(state.descriptor, size: Int(lseek(state.descriptor, 0, SEEK_END)))
        state.dropped += written
        return 0
    }

    /// Reads up to `maxLines` lines from the start of the file, without removing them.
    /// - Returns: the lines and the bytes they take, to pass to ``removeFirst(bytes:)`` once they are committed.
    public func peek(maxLines: Int) -> (lines: [String], byteCount: Int) {
        state.withLock { state in
            var lines: [String] = []
            var consumed = 0
            var chunk = [UInt8](repeating: 0, count: 64 * 1024 + 2)
            var pending: [UInt8] = []
            while lines.count < maxLines, state.head + consumed + pending.count < state.size {
                let offset = state.head + consumed + pending.count
                let count = chunk.withUnsafeMutableBytes {
                    pread(state.descriptor, $0.baseAddress, min($0.count, state.size - offset), off_t(offset))
                }
                guard count > 0 else { break }
                pending.append(contentsOf: chunk[..<count])
                while lines.count < maxLines, let newline = pending.firstIndex(of: 0x0A) {
                    lines.append(String(decoding: pending[..<newline], as: UTF8.self))
                    consumed += newline + 1
                    pending.removeSubrange(...newline)
                }
            }
            return (lines, consumed)
        }
    }

    /// Marks the first `bytes` bytes (whole lines returned by ``peek(maxLines:)``) as confirmed: they are not
    /// replayed again. Empties the file once every line is confirmed.
    public func removeFirst(bytes: Int) {
        state.withLock { state in
            let bytes = min(max(0, bytes), state.size - state.head)
            guard bytes > 0 else { return }
            state.head += bytes
            if state.head >= state.size {
                SpillFile.writeHead(path + ".head", 0)
                _ = ftruncate(state.descriptor, 0)
                state.size = 0
                state.head = 0
            } else {
                SpillFile.writeHead(path + ".head", state.head)
            }
        }
    }

    /// Rewrites the unconfirmed lines into a fresh file, dropping the confirmed ones before the head.
    private func compact(_ state: inout State) {
        var rest = [UInt8](repeating: 0, count: state.size - state.head)
        let count = rest.withUnsafeMutableBytes {
            pread(state.descriptor, $0.baseAddress, $0.count, off_t(state.head))
        }
        guard count == rest.count else { return }
        // Written beside and renamed over, so a crash leaves either the old file or the new one; the head is
        // reset first, so the worst a crash does is replay confirmed lines (deduplicated by id).
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        guard SpillFile.writeAll(descriptor, rest), fsync(descriptor) == 0 else {
            close(descriptor)
            unlink(temporary)
            return
        }
        SpillFile.writeHead(path + ".head", 0)
        guard rename(temporary, path) == 0 else {
            close(descriptor)
            unlink(temporary)
            SpillFile.writeHead(path + ".head", state.head)
            return
        }
        close(state.descriptor)
        state.descriptor = descriptor
        state.size = rest.count
        state.head = 0
    }

    private static func readHead(_ path: String) -> Int {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return 0 }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    private static func writeHead(_ path: String, _ head: Int) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        _ = writeAll(descriptor, Array("\(head)\n".utf8))
        close(descriptor)
    }

    /// Whether `offset` is the start of a line (the byte before it is a line end).
    private static func isLineStart(_ descriptor: Int32, _ offset: Int) -> Bool {
        var byte: UInt8 = 0
        return pread(descriptor, &byte, 1, off_t(offset - 1)) == 1 && byte == 0x0A
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }

    /// Truncates the file after its last `\n`; returns the new size.
    private static func cutTornTail(_ descriptor: Int32, size: Int) -> Int {
        guard size > 0 else { return 0 }
        var end = size
        var byte: UInt8 = 0
        while end > 0 {
            guard pread(descriptor, &byte, 1, off_t(end - 1)) == 1 else { break }
            if byte == 0x0A { break }
            end -= 1
        }
        if end != size { _ = ftruncate(descriptor, off_t(end)) }
        return end
    }
}
