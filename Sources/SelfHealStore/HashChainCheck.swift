import Foundation
import GRDB
import GRDBSQLite

/// The head of the hash chain: the last link, which pins the whole history up to its seq.
public struct ChainHead: Sendable, Equatable, CustomStringConvertible {
    /// The highest seq the chain covers.
    public var seq: Int64
    /// The link's SHA-256, 64 lowercase hex digits.
    public var hash: String

    /// `seq N sha256 HEX`.
    public var description: String { "seq \(seq) sha256 \(hash)" }
}

/// What `verify` found in the hash chain.
public struct ChainReport: Sendable {
    /// Links in the chain.
    public var links: Int64 = 0
    /// The last link; nil when the chain is empty.
    public var head: ChainHead?
    /// The lowest seq found not to be what was committed (changed, deleted, or never linked); nil when none.
    public var firstDifferingSeq: Int64?
    /// What differs, one line each, at most ``VerifyReport/limit``.
    public var problems: [String] = []

    /// An empty report (nothing found yet).
    package init() {}

    package mutating func problem(_ text: String, seq: Int64) {
        if problems.count < VerifyReport.limit { problems.append(text) }
        if firstDifferingSeq.map({ seq < $0 }) ?? true { firstDifferingSeq = seq }
    }
}

extension HashChain {
    /// Recomputes every link from the rows as they are now, each from the previous link's stored hash, so that
    /// every link that differs is named, not only the first.
    static func check(_ db: Database) throws -> ChainReport {
        var report = ChainReport()
        let rows = try db.makeStatement(sql: "SELECT \(columns) FROM events ORDER BY seq")
        let handle = rows.sqliteStatement
        defer { sqlite3_reset(handle) }
        func step() throws -> Int64? {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { return nil }
            guard code == SQLITE_ROW else { throw DatabaseError(resultCode: ResultCode(rawValue: code)) }
            return sqlite3_column_int64(handle, 0)
        }
        var current = try step()
        var previousSeq: Int64 = 0
        var previousHash = zero
        let links = try Row.fetchCursor(db, sql: "SELECT seq, hash FROM chain ORDER BY seq")
        var pendingLinks = 0
        while let link = try links.next() {
            let seq: Int64 = link[0]
            let stored: Data? = link[1]
            report.links += 1
            let hasher = ChainHasher(previous: previousHash)
            var expected = previousSeq + 1
            var missing: Int64?
            while let row = current, row <= seq {
                if row != expected, missing == nil { missing = expected }
                hasher.row(handle, columns: columnCount)
                expected = row + 1
                current = try step()
            }
            if expected <= seq, missing == nil { missing = expected }
            let computed = hasher.finish()
            let range = previousSeq + 1 == seq ? "seq \(seq)" : "seq \(previousSeq + 1) to \(seq)"
            if let stored {
                if Array(stored) != computed {
                    if let missing {
                        report.problem(
                            "seq \(missing) is missing from the commit of \(range)",
                            seq: missing
                        )
                    } else {
                        report.problem(
                            "the commit of \(range) differs from what was committed "
                                + "(an event in it, or the link, was changed)",
                            seq: previousSeq + 1
                        )
                    }
                }
            } else {
                // The link of the events stored before migration 006, hashed by the next commit.
                pendingLinks += 1
                if report.links != 1 || pendingLinks > 1 {
                    report.problem("the link of \(range) has no hash", seq: previousSeq + 1)
                }
            }
            previousSeq = seq
            previousHash = stored.map(Array.init) ?? computed
        }
        if pendingLinks == 1, report.links > 1 {
            report.problem("the first link was never hashed", seq: 1)
        }
        if let first = current {
            report.problem(
                "the events from seq \(first) on are in no link (written around the daemon)",
                seq: first
            )
        }
        if report.links > 0 { report.head = ChainHead(seq: previousSeq, hash: hex(previousHash)) }
        return report
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension EventStore {
    /// The head of the hash chain (its last link) as stored; nil when the log is empty.
    public func chainHead() throws(StoreError) -> ChainHead? {
        do {
            return try database.read { db in
                try HashChain.head(db, write: false).map { ChainHead(seq: $0.seq, hash: HashChain.hex($0.hash)) }
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read the hash chain")
        }
    }
}
