import Foundation
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Who may write to the daemon: the processes whose `SO_PEERCRED` uid or gid is allowed. With both lists empty
/// (the default) anyone who can open the socket may, as the socket file's mode decides.
public struct PeerPolicy: Sendable, Equatable {
    /// User ids allowed to write.
    public var uids: Set<UInt32>
    /// Group ids allowed to write: the connecting process's effective gid, as `SO_PEERCRED` gives it (not its
    /// supplementary groups).
    public var gids: Set<UInt32>

    /// Creates a policy; empty lists allow everyone.
    public init(uids: Set<UInt32> = [], gids: Set<UInt32> = []) {
        self.uids = uids
        self.gids = gids
    }

    /// Whether the lists restrict anything.
    public var restricts: Bool { !uids.isEmpty || !gids.isEmpty }

    /// Whether a process with these credentials may write.
    public func allows(uid: UInt32, gid: UInt32) -> Bool {
        !restricts || uids.contains(uid) || gids.contains(gid)
    }

    /// Parses `UID,UID,...` (or `GID,...`): decimal ids separated by commas; nil with a message otherwise.
    public static func parseIDs(_ text: String, option: String) -> Result<Set<UInt32>, ServerError> {
        var ids: Set<UInt32> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            guard let id = UInt32(trimmed) else {
                return .failure(ServerError("\(option) takes numeric ids separated by commas, not \"\(trimmed)\""))
            }
            ids.insert(id)
        }
        return .success(ids)
    }
}

extension PeerPolicy {
    /// Checks a connection: nil when it may write, else the one line sent back to it before closing (a failed
    /// sync reply, which every client reads). Logs the refusal once.
    func refusal(_ credentials: PeerCredentials?, logger: Logger) -> ByteBuffer? {
        guard restricts else { return nil }
        if let credentials, allows(uid: credentials.uid, gid: credentials.gid) { return nil }
        let who =
            credentials.map { "uid \($0.uid) (gid \($0.gid), pid \($0.pid))" }
            ?? "a process whose credentials are unknown"
        logger.warning(
            "refused a connection: \(who) is not in --allow-uid or --allow-gid",
            metadata: [
                "uid": "\(credentials.map { String($0.uid) } ?? "?")",
                "gid": "\(credentials.map { String($0.gid) } ?? "?")",
                "pid": "\(credentials.map { String($0.pid) } ?? "?")",
            ]
        )
        return IngestServer.failedSync("\(who) may not write to this daemon (serve --allow-uid, --allow-gid)")
    }
}

/// The modes of the data directory and its files: the directory 0750 when created, the store's files and the
/// lock 0640, whatever the umask, so that a group of readers (the CLI, reports) can read and nobody else.
public enum DataDirectoryModes {
    /// The data directory's mode when the daemon creates it.
    public static let directory: mode_t = 0o750
    /// The mode of the files in it (the socket has its own, `--socket-mode`).
    public static let file: mode_t = 0o640

    /// Creates the directory (0750) when missing.
    static func createDirectory(_ path: String) throws(ServerError) {
        var info = stat()
        if stat(path, &info) == 0 { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ServerError("cannot create the data directory \(path): \(error.localizedDescription)")
        }
        guard chmod(path, directory) == 0 else {
            throw ServerError("cannot set mode 0750 on \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Creates the database file (0640) when missing, and sets 0640 on it and its WAL files: SQLite creates
    /// the WAL files with the database file's mode.
    static func prepareStoreFiles(_ databasePath: String) throws(ServerError) {
        let fd = open(databasePath, O_RDWR | O_CREAT | O_CLOEXEC, file)
        guard fd >= 0 else {
            throw ServerError("cannot open \(databasePath): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        guard fchmod(fd, file) == 0 else {
            throw ServerError("cannot set mode 0640 on \(databasePath): \(String(cString: strerror(errno)))")
        }
        for suffix in ["-wal", "-shm"] where access(databasePath + suffix, F_OK) == 0 {
            _ = chmod(databasePath + suffix, file)
        }
    }
}
