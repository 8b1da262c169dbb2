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
public final class SpillFile: Sendable {
    private struct State {
        var descriptor: Int32
        var size: Int
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
        state = Mutex(State(descriptor: descriptor, size: size))
    }

    deinit {
        state.withLock { _ = close($0.descriptor) }
    }

    /// Bytes in the file.
    public var byteCount: Int { state.withLock { $0.size } }
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
            while lines.count < maxLines, consumed + pending.count < state.size {
                let offset = consumed + pending.count
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

    /// Removes the first `bytes` bytes (whole lines returned by ``peek(maxLines:)``), keeping the rest in order.
    public func removeFirst(bytes: Int) {
        state.withLock { state in
            let bytes = min(max(0, bytes), state.size)
            guard bytes > 0 else { return }
            var rest = [UInt8](repeating: 0, count: state.size - bytes)
            let count = rest.withUnsafeMutableBytes {
                pread(state.descriptor, $0.baseAddress, $0.count, off_t(bytes))
            }
            guard count == rest.count else { return }
            // Written beside and renamed over, so a crash leaves either the old file or the new one.
            let temporary = path + ".tmp"
            let descriptor = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { return }
            guard SpillFile.writeAll(descriptor, rest), fsync(descriptor) == 0, rename(temporary, path) == 0 else {
                close(descriptor)
                unlink(temporary)
                return
            }
            close(state.descriptor)
            state.descriptor = descriptor
            state.size = rest.count
        }
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
