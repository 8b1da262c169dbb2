import GRDB
import SelfHealEvents

/// The columns of the incidents table, in one order for reading and writing.
enum IncidentColumns {
    static let list = """
        id, service, component, incident, kind, title, state, peak_level, opened_at, last_event_at, resolved_at, \
        failed_at, ended_at, recovery_ms, event_count, actions, first_seq, last_seq, span_class
        """

    static let count: Int32 = 19

    /// INSERTs of 1 to ``MultiRowWriter/rowsPerStatement`` incidents (see ``MultiRowWriter``).
    static let insertSQL: [String] = (1...MultiRowWriter.rowsPerStatement).map { rows in
        "INSERT INTO incidents (\(list)) VALUES \(MultiRowWriter.placeholders(rows: rows, columns: count))"
    }

    /// Binds a record's columns from parameter `first` on.
    static func bind(_ record: borrowing IncidentRecord, to statement: FastStatement, from first: Int32) {
        let base = first - 1
        statement.bind(base + 1, record.id)
        statement.bind(base + 2, record.key.service)
        statement.bind(base + 3, record.component)
        statement.bind(base + 4, record.key.byIncident ? record.key.name : nil)
        statement.bind(base + 5, record.kind)
        statement.bind(base + 6, record.title)
        statement.bind(base + 7, record.state.rawValue)
        statement.bind(base + 8, Int64(record.peakLevel.rawValue))
        statement.bind(base + 9, record.openedAt)
        statement.bind(base + 10, record.lastEventAt)
        statement.bind(base + 11, record.resolvedAt)
        statement.bind(base + 12, record.failedAt)
        statement.bind(base + 13, record.endedAt)
        statement.bind(base + 14, record.recoveryMs)
        statement.bind(base + 15, record.eventCount)
        statement.bind(base + 16, record.actions.json)
        statement.bind(base + 17, record.firstSeq)
        statement.bind(base + 18, record.lastSeq)
        statement.bind(base + 19, record.spanClass)
    }

    /// The record in the current row of a statement that selects ``list``.
    static func record(_ statement: FastStatement) throws -> IncidentRecord {
        let id = statement.int64(0)
        guard let state = statement.state(6) else {
            throw StoreError("incident \(id) has an unknown state")
        }
        guard let level = EventLevel(rawValue: Int(statement.int64(7))) else {
            throw StoreError("incident \(id) has an unknown level")
        }
        let component = statement.string(2)
        let incident = statement.optionalString(3)
        return IncidentRecord(
            id: id,
            key: IncidentKey(service: statement.string(1), name: incident ?? component, byIncident: incident != nil),
            component: component,
            kind: statement.string(4),
            title: statement.string(5),
            state: state,
            peakLevel: level,
            openedAt: statement.int64(8),
            lastEventAt: statement.int64(9),
            resolvedAt: statement.optionalInt64(10),
            failedAt: statement.optionalInt64(11),
            endedAt: statement.optionalInt64(12),
            eventCount: statement.int64(14),
            actions: statement.bytes(15, actionSet),
            firstSeq: statement.int64(16),
            lastSeq: statement.int64(17)
        )
    }

    /// The set of a JSON array of plain strings, as ``ActionSet/json`` writes it, read from its bytes (no `String`
    /// per row): the names between the separators `[`, `]`, `,` and `"`; other names are ignored.
    static func actionSet(_ json: UnsafeBufferPointer<UInt8>) -> ActionSet {
        var set = ActionSet()
        var start = 0
        for index in 0...json.count {
            if index < json.count {
                let byte = json[index]
                guard byte == 0x5B || byte == 0x5D || byte == 0x2C || byte == 0x22 else { continue }
            }
            if index > start {
                let name = UnsafeBufferPointer(rebasing: json[start..<index])
                for (bit, candidate) in actionNames.enumerated() where candidate.elementsEqual(name) {
                    set.bits |= 1 << UInt32(bit)
                }
            }
            start = index + 1
        }
        return set
    }

    /// ``ActionSet/names`` as bytes: bit i is `actionNames[i]`.
    private static let actionNames: [[UInt8]] = ActionSet.names.map { Array($0.utf8) }
}
