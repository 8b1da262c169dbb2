import GRDB
import Testing

@testable import SelfHealStore

/// The projections insert new incidents several rows per statement: every row is written once, in order, for
/// any count (none, one, a full statement, one past it, several statements and a remainder).
@Suite struct MultiRowWriterTests {
    @Test(arguments: [0, 1, 15, 16, 17, 40])
    func writesEveryRowOnceInOrder(count: Int) throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (n INTEGER NOT NULL, label TEXT NOT NULL)")
            var writer = MultiRowWriter(db, count: count, columns: 2) { rows in
                "INSERT INTO t (n, label) VALUES \(MultiRowWriter.placeholders(rows: rows, columns: 2))"
            }
            for n in 0..<count {
                try writer.add { statement, first in
                    statement.bind(first, Int64(n))
                    statement.bind(first + 1, "row \(n)")
                }
            }
            try writer.finish()
            let rows = try Row.fetchAll(db, sql: "SELECT n, label FROM t ORDER BY rowid")
            #expect(rows.map { $0[0] as Int64 } == (0..<count).map(Int64.init))
            #expect(rows.map { $0[1] as String } == (0..<count).map { "row \($0)" })
        }
    }

    @Test func aWriterShortOfRowsSaysSo() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (n INTEGER NOT NULL)")
            var writer = MultiRowWriter(db, count: 3, columns: 1) { rows in
                "INSERT INTO t (n) VALUES \(MultiRowWriter.placeholders(rows: rows, columns: 1))"
            }
            try writer.add { statement, first in statement.bind(first, Int64(1)) }
            #expect(throws: StoreError.self) { try writer.finish() }
        }
    }

    @Test func placeholdersNumberEachRowsColumns() {
        #expect(MultiRowWriter.placeholders(rows: 2, columns: 3) == "(?1, ?2, ?3), (?4, ?5, ?6)")
    }
}
