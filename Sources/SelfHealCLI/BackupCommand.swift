import ArgumentParser
import Foundation
import SelfHealEvents
import SelfHealStore

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent copy of the store while the daemon runs.",
        discussion: """
            Copies the whole store (log, hash chain, rejects, projections) in one read snapshot with SQLite's
            VACUUM INTO: the daemon keeps taking events meanwhile. DEST is a new file, or an existing directory
            (the copy is then DEST/events-<UTC time>.db); an existing file is never overwritten. Prints the copy's
            last seq and chain head. --verify then runs 'selfheal verify' on the copy (in a temporary data
            directory) and fails if it finds anything.

            To restore: stop the daemon, replace DATA_DIR/events.db by the copy and remove events.db-wal and
            events.db-shm, start the daemon, run 'selfheal verify'. Seq and the chain go on from the copy's.

            Examples:
              selfheal backup /var/backups/selfheal/events-$(date +%F).db
              selfheal backup --data-dir /var/lib/selfheal /var/backups/selfheal/
            """
    )

    @OptionGroup var location: LocationOptions

    @Argument(help: "The new file to write, or a directory to write it in.")
    var destination: String

    @Flag(help: "Verify the copy (log, hash chain, projections) once written.")
    var verify = false

    func run() async throws {
        try await reportingErrors {
            let store = try location.openStore()
            var isDirectory: ObjCBool = false
            var path = destination
            if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory), isDirectory.boolValue {
                let stamp = Timestamp.formatRFC3339(currentMillis()).filter { $0 != "-" && $0 != ":" }
                path = (destination as NSString).appendingPathComponent("events-\(stamp).db")
            }
            let result = try store.backup(to: path)
            let head = result.head.map { ", head \($0)" } ?? ""
            print("backed up \(result.events) events (\(result.bytes) bytes) to \(result.path)\(head)")
            if verify { try verifyCopy(result.path) }
        }
    }

    /// Verifies a copy as the daemon would open it: as `events.db` of a data directory of its own.
    private func verifyCopy(_ path: String) throws {
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent(
            "selfheal-backup-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = (directory as NSString).appendingPathComponent("events.db")
        try FileManager.default.copyItem(atPath: path, toPath: file)
        let report = try EventStore(StoreConfiguration(path: file)).verify()
        if report.isClean {
            print("verified the copy: \(report.events) events, hash chain and projections as committed")
        } else {
            let first =
                report.chain.problems.first ?? report.logProblems.first ?? report.projectionDifferences.first ?? ""
            throw CLIError("the copy does not verify: \(first)")
        }
    }
}
