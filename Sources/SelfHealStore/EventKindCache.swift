import SelfHealEvents

/// Parses the kind and level names of stored rows, each kind once per read (a read of many rows meets few
/// kinds); an unknown name is an error naming the row.
package struct EventKindCache {
    private var kinds: [String: EventKind] = [:]
    /// What a row is called in errors: `event` locally, `fleet event` in the central store.
    private let row: String

    /// A cache for one read; `row` names the rows in errors.
    package init(row: String = "event") { self.row = row }

    /// The kind of a name, parsed once.
    package mutating func kind(_ name: String, seq: Int64) throws(StoreError) -> EventKind {
        if let known = kinds[name] { return known }
        guard let parsed = EventKind(name: name) else { throw StoreError("\(row) \(seq) has unknown kind \(name)") }
        kinds[name] = parsed
        return parsed
    }

    /// The level of a name.
    package func level(_ name: String, seq: Int64) throws(StoreError) -> EventLevel {
        guard let level = EventLevel(name: name) else { throw StoreError("\(row) \(seq) has unknown level \(name)") }
        return level
    }
}
