import Foundation
import SelfHealStore

/// What the forwarder last knew, kept in `DATA_DIR/forward.json` for `selfheal status` (written whole and renamed
/// into place, so a reader never sees half of it).
public struct ForwarderState: Codable, Sendable, Equatable {
    /// The central store's URL, without its password.
    public var store: String
    /// This host's id in the fleet log.
    public var hostID: String
    /// Whether the last attempt to reach the central store succeeded.
    public var up: Bool
    /// The last local seq stored centrally (0: none, or not known yet).
    public var forwardedSeq: Int64
    /// Why the central store is unreachable, while it is.
    public var error: String?
    /// The forwarding daemon's process id.
    public var pid: Int32
    /// When this state was written, epoch milliseconds.
    public var updatedAt: Int64

    enum CodingKeys: String, CodingKey {
        case store, up, error, pid
        case hostID = "host_id"
        case forwardedSeq = "forwarded_seq"
        case updatedAt = "updated_at"
    }

    /// `DATA_DIR/forward.json`.
    public static func path(dataDirectory: String) -> String {
        (dataDirectory as NSString).appendingPathComponent("forward.json")
    }

    /// Reads the state file; nil when there is none (the daemon never forwarded from this directory).
    public static func read(path: String) throws(StoreError) -> ForwarderState? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(ForwarderState.self, from: data)
        } catch {
            throw StoreError("cannot read the forwarder's state \(path): not the JSON selfheal writes")
        }
    }

    /// Writes the state file: a temporary file renamed over it.
    func write(path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(self)
        let temporary = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: temporary))
        if rename(temporary, path) != 0 { throw StoreError("cannot rename \(temporary) to \(path)") }
    }
}
