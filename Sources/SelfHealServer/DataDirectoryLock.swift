import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The lock that lets only one daemon serve a data directory: an exclusive `flock` on `DATA_DIR/daemon.lock`,
/// held for the daemon's life and released by the kernel when the process dies, however it dies.
public final class DataDirectoryLock: Sendable {
    private let descriptor: Int32
    /// The lock file's path.
    public let path: String

    /// Takes the lock, or fails with a message naming the daemon that holds it.
    public init(dataDirectory: String) throws(ServerError) {
        path = (dataDirectory as NSString).appendingPathComponent("daemon.lock")
        try DataDirectoryModes.createDirectory(dataDirectory)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, DataDirectoryModes.file)
        guard fd >= 0 else {
            throw ServerError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        _ = fchmod(fd, DataDirectoryModes.file)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            let who = holder.map { $0.isEmpty ? "" : " (pid \($0))" } ?? ""
            throw ServerError("another selfheal daemon\(who) already serves \(dataDirectory)")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        descriptor = fd
    }

    /// Whether a daemon holds the lock of a data directory right now.
    public static func isHeld(dataDirectory: String) -> Bool {
        let path = (dataDirectory as NSString).appendingPathComponent("daemon.lock")
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

/// A daemon error: a message a person can act on.
public struct ServerError: Error, Sendable, CustomStringConvertible {
    /// The message.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
