import GRDB
import GRDBSQLite

/// A cached statement bound and stepped through the SQLite C API. The projections write hundreds of rows per
/// commit and replay millions of events; GRDB's `StatementArguments` and `Row` allocate for every value, which
/// costs more than SQLite's own work at that rate.
struct FastStatement {
    private let statement: Statement
    private let handle: SQLiteStatement
    private let connection: SQLiteConnection?

    /// Prepares (or takes from GRDB's cache) a statement of this connection.
    init(_ db: Database, sql: String) throws {
        statement = try db.cachedStatement(sql: sql)
        handle = statement.sqliteStatement
        connection = db.sqliteConnection
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Binds parameter `index` (from 1).
    func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(handle, index, value)
    }

    func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(handle, index, value) } else { sqlite3_bind_null(handle, index) }
    }

    func bind(_ index: Int32, _ value: String) {
        var value = value
        _ = value.withUTF8 { bytes in
            // A nil pointer would bind NULL: the empty string needs a real one.
            if let base = bytes.baseAddress {
                sqlite3_bind_text(handle, index, base, Int32(bytes.count), sqliteTransient)
            } else {
                sqlite3_bind_text(handle, index, "", 0, sqliteTransient)
            }
        }
    }

    func bind(_ index: Int32, _ value: String?) {
        if let value { bind(index, value) } else { sqlite3_bind_null(handle, index) }
    }

    /// Runs a statement that returns no rows, then resets it.
    func run() throws {
        let code = sqlite3_step(handle)
        defer { sqlite3_reset(handle) }
        guard code == SQLITE_DONE else { throw error(code) }
    }

    /// Runs a statement that returns no rows, then resets it; returns the number of rows it changed.
    func runCountingChanges() throws -> Int {
        try run()
        return Int(sqlite3_changes(sqlite3_db_handle(handle)))
    }

    /// The rowid of the connection's last successful INSERT.
    var lastInsertedRowID: Int64 { sqlite3_last_insert_rowid(sqlite3_db_handle(handle)) }

    /// Steps to the next row; false at the end.
    func step() throws -> Bool {
        let code = sqlite3_step(handle)
        if code == SQLITE_ROW { return true }
        defer { sqlite3_reset(handle) }
        guard code == SQLITE_DONE else { throw error(code) }
        return false
    }

    /// Column `index` (from 0) of the current row.
    func int64(_ index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }

    func optionalInt64(_ index: Int32) -> Int64? {
        sqlite3_column_type(handle, index) == SQLITE_NULL ? nil : sqlite3_column_int64(handle, index)
    }

    func string(_ index: Int32) -> String {
        guard let text = sqlite3_column_text(handle, index) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, index))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    func optionalString(_ index: Int32) -> String? {
        sqlite3_column_type(handle, index) == SQLITE_NULL ? nil : string(index)
    }

    private func error(_ code: Int32) -> DatabaseError {
        let message = connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
    }
}

/// SQLite copies the bound bytes (`SQLITE_TRANSIENT`).
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// Writes a known number of rows with statements of several rows each (`INSERT ... VALUES (...), (...)`): one
/// statement per row cost a fifth more per incident row (measured in the projections' writes). The statements
/// come from `sql(rows)`, whose row `r` (from 0) takes parameters `r * columns + 1` and on; they are prepared
/// once per size and cached by GRDB.
struct MultiRowWriter {
    /// The most rows one statement takes.
    static let rowsPerStatement = 16

    private let db: Database
    private let columns: Int32
    private let sql: (Int) -> String
    private var remaining: Int
    private var current: (statement: FastStatement, rows: Int32)?
    private var row: Int32 = 0

    /// A writer of `count` rows of `columns` parameters each.
    init(_ db: Database, count: Int, columns: Int32, sql: @escaping (_ rows: Int) -> String) {
        self.db = db
        self.columns = columns
        self.sql = sql
        remaining = count
    }

    /// Binds the next row through `bind` (given the statement and the row's first parameter index), and runs
    /// the statement once it has all its rows.
    mutating func add(_ bind: (_ statement: FastStatement, _ firstParameter: Int32) -> Void) throws {
        precondition(remaining > 0, "more rows than announced")
        let target: (statement: FastStatement, rows: Int32)
        if let current {
            target = current
        } else {
            let rows = min(remaining, Self.rowsPerStatement)
            target = (try FastStatement(db, sql: sql(rows)), Int32(rows))
            current = target
            row = 0
        }
        bind(target.statement, row * columns + 1)
        row += 1
        remaining -= 1
        if row == target.rows {
            try target.statement.run()
            current = nil
        }
    }

    /// Checks that every announced row was written: a statement short of rows would never run.
    func finish() throws {
        guard remaining == 0, current == nil else {
            throw StoreError("internal error: \(remaining) announced rows were never written")
        }
    }

    /// `(?1, ?2, ...), (?n+1, ...)`: the placeholders of `rows` rows of `columns` parameters.
    static func placeholders(rows: Int, columns: Int32) -> String {
        (0..<Int32(rows)).map { row in
            "(" + (1...columns).map { "?\(row * columns + $0)" }.joined(separator: ", ") + ")"
        }
        .joined(separator: ", ")
    }
}

// The reads' access to column bytes (the query answers encode them without a `String` per value).
extension FastStatement {
    /// Calls `body` with the UTF-8 bytes of text column `index` (from 0) of the current row, valid only during
    /// the call; empty for NULL.
    func bytes<T>(_ index: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        // SQLite's order: the text first, then its length.
        guard let text = sqlite3_column_text(handle, index) else {
            return try body(UnsafeBufferPointer(start: nil, count: 0))
        }
        return try body(UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(handle, index))))
    }

    /// Column `index` of the current row as an incident state, compared as bytes (no `String` per row).
    func state(_ index: Int32) -> IncidentState? {
        bytes(index) { text in
            switch text.count {
            case 4: text.elementsEqual("open".utf8) ? .open : nil
            case 6: text.elementsEqual("failed".utf8) ? .failed : nil
            case 7: text.elementsEqual("expired".utf8) ? .expired : nil
            case 8: text.elementsEqual("resolved".utf8) ? .resolved : nil
            default: nil
            }
        }
    }
}
