import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// What `selfheal backup` wrote.
public struct BackupResult: Sendable {
    /// The copy's path.
    public var path: String
    /// Events in the copy (its seq runs from 1 to this).
    public var events: Int64
    /// The copy's chain head; nil when it holds no events.
    public var head: ChainHead?
    /// The copy's size in bytes.
    public var bytes: Int64
}

extension EventStore {
    /// Writes a consistent copy of the whole store to `destination` with `VACUUM INTO` (one read snapshot, so
    /// a running daemon keeps writing meanwhile). The copy is written beside `destination` under a temporary
    /// name, synced, then renamed, so `destination` is either absent or complete; it is never overwritten.
    public func backup(to destination: String) throws(StoreError) -> BackupResult {
        if FileManager.default.fileExists(atPath: destination) {
            throw StoreError("\(destination) exists: choose a new file for the backup")
        }
        let partial = destination + ".partial-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: partial) }
        do {
            try database.writeWithoutTransaction { db in
                try db.execute(sql: "VACUUM INTO ?", arguments: [partial])
            }
        } catch {
            throw StoreError.wrapping(error, "cannot back up the event store to \(destination)")
        }
        let fd = open(partial, O_RDONLY | O_CLOEXEC)
        guard fd >= 0, fchmod(fd, 0o640) == 0, fsync(fd) == 0 else {
            let message = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw StoreError("cannot sync the backup \(partial): \(message)")
        }
        close(fd)
        guard link(partial, destination) == 0 else {
            throw StoreError("cannot create \(destination): \(String(cString: strerror(errno)))")
        }
        Self.syncDirectory(of: destination)
        do {
            var configuration = Configuration()
            configuration.readonly = true
            let copy = try DatabaseQueue(path: destination, configuration: configuration)
            defer { try? copy.close() }
            let (events, head) = try copy.read { db in
                (
                    try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0,
                    try HashChain.head(db, write: false).map { ChainHead(seq: $0.seq, hash: HashChain.hex($0.hash)) }
                )
            }
            let size = (try FileManager.default.attributesOfItem(atPath: destination)[.size] as? NSNumber)?.int64Value
            return BackupResult(path: destination, events: events, head: head, bytes: size ?? 0)
        } catch {
            throw StoreError.wrapping(error, "the backup \(destination) does not read back")
        }
    }

    private static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
