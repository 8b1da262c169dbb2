import Crypto
import Foundation
import GRDB
import GRDBSQLite
import SelfHealEvents
import Synchronization

/// The canonical encoding of event rows, hashed with SHA-256 as it is written. Every column of a row, in table
/// order, as a tag byte and its value: 0 NULL; 1 INTEGER, 8 bytes big-endian; 2 REAL, its 8 bytes big-endian;
/// 3 TEXT and 4 BLOB, a 4-byte big-endian length and the bytes. The tags make the encoding self-delimiting, so
/// two different row sets never encode alike. Bytes go through one buffer of 64 KiB per link, hashed each time
/// it fills: no allocation per event.
final class ChainHasher {
    private var hasher = SHA256()
    private let buffer: UnsafeMutableRawPointer
    private var count = 0
    private static let capacity = 65_536

    /// Starts a link whose previous link has hash `previous` (32 zero bytes for the first link).
    convenience init(previous: [UInt8]) {
        self.init()
        previous.withUnsafeBytes { append($0) }
    }

    /// Starts a link whose previous link has hash `previous`, read in place (from SQLite's row).
    convenience init(previous: UnsafeRawBufferPointer) {
        self.init()
        append(previous)
    }

    private init() {
        buffer = .allocate(byteCount: Self.capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    @inline(__always) private func reserve(_ bytes: Int) {
        if count + bytes > Self.capacity { flush() }
    }

    @inline(__always) private func append(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        (buffer + count).copyMemory(from: base, byteCount: bytes.count)
        count += bytes.count
    }

    func null() {
        reserve(1)
        putNull()
    }

    func integer(_ value: Int64) {
        reserve(9)
        putInteger(value)
    }

    func integer(_ value: Int64?) {
        if let value { integer(value) } else { null() }
    }

    func real(_ value: Double) {
        reserve(9)
        buffer.storeBytes(of: 2, toByteOffset: count, as: UInt8.self)
        buffer.storeBytes(of: value.bitPattern.bigEndian, toByteOffset: count + 1, as: UInt64.self)
        count += 9
    }

    @inline(__always) private func putNull() {
        buffer.storeBytes(of: 0, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always) private func putInteger(_ value: Int64) {
        buffer.storeBytes(of: 1, toByteOffset: count, as: UInt8.self)
        buffer.storeBytes(of: value.bigEndian, toByteOffset: count + 1, as: Int64.self)
        count += 9
    }

    @inline(__always) private func putInteger(_ value: Int64?) {
        if let value { putInteger(value) } else { putNull() }
    }

    /// A TEXT value's tag, length and bytes, straight from the string's own storage when it has one.
    @inline(__always) private func putText(_ value: String?) {
        guard var value else { return putNull() }
        value.withUTF8 { utf8 in
            buffer.storeBytes(of: 3, toByteOffset: count, as: UInt8.self)
            let length = UInt32(truncatingIfNeeded: utf8.count).bigEndian
            buffer.storeBytes(of: length, toByteOffset: count + 1, as: UInt32.self)
            count += 5
            append(UnsafeRawBufferPointer(utf8))
        }
    }

    @inline(__always) private static func encodedSize(_ value: String?) -> Int {
        value.map { 5 + $0.utf8.count } ?? 1
    }

    /// Hashes one events row from the values just bound, in table order. The row's room in the buffer is
    /// checked once, not per column; a row larger than the buffer (long `attrs`) goes column by column.
    func event(
        seq: Int64,
        timestamp: Int64,
        receivedAt: Int64,
        texts: (String, String, String, String, String?, String?, String?, String?),
        uid: Int64?,
        pid: Int64?
    ) {
        let size =
            27 + (uid == nil ? 1 : 9) + (pid == nil ? 1 : 9) + Self.encodedSize(texts.0) + Self.encodedSize(texts.1)
            + Self.encodedSize(texts.2) + Self.encodedSize(texts.3) + Self.encodedSize(texts.4)
            + Self.encodedSize(texts.5) + Self.encodedSize(texts.6) + Self.encodedSize(texts.7)
        guard size <= Self.capacity else {
            for value in [seq, timestamp, receivedAt] { integer(value) }
            for value in [texts.0, texts.1, texts.2, texts.3, texts.4, texts.5, texts.6, texts.7] { text(value) }
            integer(uid)
            integer(pid)
            return
        }
        reserve(size)
        putInteger(seq)
        putInteger(timestamp)
        putInteger(receivedAt)
        putText(texts.0)
        putText(texts.1)
        putText(texts.2)
        putText(texts.3)
        putText(texts.4)
        putText(texts.5)
        putText(texts.6)
        putText(texts.7)
        putInteger(uid)
        putInteger(pid)
    }

    func text(_ value: String) {
        if value.utf8.withContiguousStorageIfAvailable({ bytes(3, UnsafeRawBufferPointer($0)) }) != nil { return }
        var copy = value
        copy.withUTF8 { bytes(3, UnsafeRawBufferPointer($0)) }
    }

    func text(_ value: String?) {
        if let value { text(value) } else { null() }
    }

    /// A TEXT (tag 3) or BLOB (tag 4) value.
    func bytes(_ tag: UInt8, _ value: UnsafeRawBufferPointer) {
        reserve(5)
        buffer.storeBytes(of: tag, toByteOffset: count, as: UInt8.self)
        let length = UInt32(truncatingIfNeeded: value.count).bigEndian
        buffer.storeBytes(of: length, toByteOffset: count + 1, as: UInt32.self)
        count += 5
        if count + value.count > Self.capacity {
            flush()
            if value.count > Self.capacity {
                hasher.update(bufferPointer: value)
                return
            }
        }
        append(value)
    }

    private func flush() {
        hasher.update(bufferPointer: UnsafeRawBufferPointer(start: buffer, count: count))
        count = 0
    }

    /// The link's 32-byte hash.
    func finish() -> [UInt8] { Array(digest()) }

    /// The link's hash, without an array.
    func digest() -> SHA256.Digest {
        flush()
        return hasher.finalize()
    }

    /// Hashes a row of `columns` columns from a statement positioned on it, by the storage class SQLite holds.
    func row(_ statement: SQLiteStatement, columns: Int32) {
        for index in 0..<columns {
            switch sqlite3_column_type(statement, index) {
            case SQLITE_NULL: null()
            case SQLITE_INTEGER: integer(sqlite3_column_int64(statement, index))
            case SQLITE_FLOAT: real(sqlite3_column_double(statement, index))
            case SQLITE_TEXT:
                let text = sqlite3_column_text(statement, index)
                bytes(3, UnsafeRawBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, index))))
            default:
                let blob = sqlite3_column_blob(statement, index)
                bytes(4, UnsafeRawBufferPointer(start: blob, count: Int(sqlite3_column_bytes(statement, index))))
            }
        }
    }
}

/// The hash chain over the event log (migration 006): one link per commit that stored events, each the SHA-256 of
/// the previous link's hash and the canonical encoding (``ChainHasher``) of the rows it covers, in seq order.
enum HashChain {
    /// The events table's columns, in the order they are hashed.
    static let columns = """
        seq, ts, received_at, service, component, kind, level, message, incident, event_id, attrs, peer_uid, peer_pid
        """
    static let columnCount: Int32 = 13
    static let zero = [UInt8](repeating: 0, count: 32)

    /// Hashes the stored rows with seq in `(after, through]` into `hasher`.
    static func hashRows(_ db: Database, after: Int64, through: Int64, into hasher: ChainHasher) throws {
        guard through > after else { return }
        let statement = try db.cachedStatement(
            sql: "SELECT \(columns) FROM events WHERE seq > ? AND seq <= ? ORDER BY seq"
        )
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_bind_int64(handle, 1, after)
        sqlite3_bind_int64(handle, 2, through)
        defer { sqlite3_reset(handle) }
        while true {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else { throw DatabaseError(resultCode: ResultCode(rawValue: code)) }
            hasher.row(handle, columns: columnCount)
        }
    }

    /// The last link: its seq and hash, hashing the link of the events stored before the chain existed when
    /// that is still to do (`write`: and storing it). Nil when the chain is empty.
    static func head(_ db: Database, write: Bool) throws -> (seq: Int64, hash: [UInt8])? {
        guard let row = try Row.fetchOne(db, sql: "SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1") else {
            return nil
        }
        let seq: Int64 = row[0]
        if let hash: Data = row[1] { return (seq, Array(hash)) }
        // Only the first link may be pending, and only until the next commit.
        let previous = try Row.fetchOne(
            db,
            sql: "SELECT seq, hash FROM chain WHERE seq < ? ORDER BY seq DESC LIMIT 1",
            arguments: [seq]
        )
        let after: Int64 = previous?[0] ?? 0
        let previousHash: Data? = previous?[1]
        let hasher = ChainHasher(previous: previousHash.map(Array.init) ?? zero)
        try hashRows(db, after: after, through: seq, into: hasher)
        let hash = hasher.finish()
        if write { try db.execute(sql: "UPDATE chain SET hash = ? WHERE seq = ?", arguments: [Data(hash), seq]) }
        return (seq, hash)
    }
}

/// Whether appends extend the hash chain. Always on, except in `selfheal-bench chain`, which measures what the
/// chain costs by appending the same events with it off and on in the same run.
@_spi(Benchmarks)
public enum HashChainSwitch {
    static let enabled = Atomic<Bool>(true)

    /// Turns the chain on or off for every store of the process.
    public static func set(enabled: Bool) { Self.enabled.store(enabled, ordering: .relaxed) }
}

/// The link an append is making: the events it stores are hashed as they are bound, and ``finish(_:)`` writes
/// the link in the same transaction.
struct ChainLink {
    private let hasher: ChainHasher
    private let previousSeq: Int64
    private var lastSeq: Int64
    private let enabled: Bool

    /// Starts the link after the chain's head. Rows stored after the head without a link (none when only
    /// ``EventStore`` writes the log) are hashed into this link first.
    init(_ db: Database) throws {
        enabled = HashChainSwitch.enabled.load(ordering: .relaxed)
        guard enabled else {
            (hasher, previousSeq, lastSeq) = (ChainHasher(previous: []), 0, 0)
            return
        }
        // Every commit: one cached statement for the head link and the log's last seq, the head's hash read in
        // place. The chain's first commit, and a head still to hash (the events of before the chain), take
        // `HashChain.head`.
        let statement = try db.cachedStatement(sql: Self.headAndLastSeq)
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        let code = sqlite3_step(handle)
        if code == SQLITE_ROW, sqlite3_column_type(handle, 1) == SQLITE_BLOB {
            previousSeq = sqlite3_column_int64(handle, 0)
            let hash = sqlite3_column_blob(handle, 1)
            hasher = ChainHasher(
                previous: UnsafeRawBufferPointer(start: hash, count: Int(sqlite3_column_bytes(handle, 1)))
            )
            let stored = sqlite3_column_int64(handle, 2)
            sqlite3_reset(handle)
            try HashChain.hashRows(db, after: previousSeq, through: stored, into: hasher)
            lastSeq = max(previousSeq, stored)
            return
        }
        sqlite3_reset(handle)
        guard code == SQLITE_ROW || code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code))
        }
        let head = try HashChain.head(db, write: true)
        previousSeq = head?.seq ?? 0
        hasher = ChainHasher(previous: head?.hash ?? HashChain.zero)
        let stored = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0
        try HashChain.hashRows(db, after: previousSeq, through: stored, into: hasher)
        lastSeq = max(previousSeq, stored)
    }

    private static let headAndLastSeq =
        "SELECT seq, hash, (SELECT max(seq) FROM events) FROM chain ORDER BY seq DESC LIMIT 1"

    /// Hashes an event just inserted with `seq`, from the values that were bound.
    mutating func add(
        seq: Int64,
        timestamp: Int64,
        incoming: IncomingEvent,
        kind: String,
        level: String
    ) {
        guard enabled else { return }
        let event = incoming.event
        hasher.event(
            seq: seq,
            timestamp: timestamp,
            receivedAt: incoming.receivedAt,
            texts: (
                event.service, event.component, kind, level, event.message, event.incident, event.id,
                event.attributesJSON
            ),
            uid: incoming.peer.map { Int64($0.uid) },
            pid: incoming.peer.map { Int64($0.pid) }
        )
        lastSeq = seq
    }

    /// Writes the link when the commit stored anything (bound through the C API, the hash from the digest).
    mutating func finish(_ db: Database) throws {
        guard enabled, lastSeq > previousSeq else { return }
        let digest = hasher.digest()
        let insert = try db.cachedStatement(sql: "INSERT INTO chain (seq, hash) VALUES (?, ?)")
        let handle = insert.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_bind_int64(handle, 1, lastSeq)
        // Bound without a copy (no destructor: SQLITE_STATIC), the step within the digest's lifetime.
        let code = digest.withUnsafeBytes { bytes in
            sqlite3_bind_blob(handle, 2, bytes.baseAddress, Int32(bytes.count), nil)
            defer {
                sqlite3_reset(handle)
                sqlite3_clear_bindings(handle)
            }
            return sqlite3_step(handle)
        }
        guard code == SQLITE_DONE else { throw DatabaseError(resultCode: ResultCode(rawValue: code)) }
    }
}
