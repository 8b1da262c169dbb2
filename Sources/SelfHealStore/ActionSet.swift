import SelfHealEvents

/// The distinct mitigate kinds of an incident, as bits in the order of their names.
package struct ActionSet: Equatable, Sendable {
    var bits: UInt32 = 0

    /// The mitigate kinds of the vocabulary, sorted by name: bit i is `names[i]`.
    static let names: [String] = EventKind.vocabulary.filter { $0.role == .mitigate }.map(\.name).sorted()

    /// The bits whose name has each length (the names' lengths differ, so a length names at most one or two):
    /// a mitigate event costs one comparison of names, not a hash of one.
    private static let candidatesByLength: [[Int]] = {
        var table = [[Int]](repeating: [], count: (names.map(\.utf8.count).max() ?? 0) + 1)
        for (bit, name) in names.enumerated() { table[name.utf8.count].append(bit) }
        return table
    }()

    init() {}

    init(_ kinds: [String]) {
        for kind in kinds { insert(kind) }
    }

    private init(bits: UInt32) { self.bits = bits }

    /// Adds a kind; a kind that is not a mitigate kind of the vocabulary is ignored.
    mutating func insert(_ kind: String) {
        let length = kind.utf8.count
        guard length < Self.candidatesByLength.count else { return }
        for bit in Self.candidatesByLength[length] where Self.names[bit] == kind {
            bits |= 1 << UInt32(bit)
        }
    }

    /// The kinds as a JSON array, as the `actions` column holds them: `["breaker.opened","retry.attempt"]`.
    package var json: String { Self.jsonBySet[Int(bits)] }
    private static let jsonBySet: [String] = (0..<(1 << names.count)).map { bits in
        JSONText.array(names.enumerated().compactMap { bits & (1 << $0) != 0 ? JSONText.quoted($1) : nil })
    }

    /// Every set by its JSON text.
    package static let byJSON: [String: ActionSet] = Dictionary(
        uniqueKeysWithValues: jsonBySet.enumerated().map { ($1, ActionSet(bits: UInt32($0))) }
    )

    /// The kinds, sorted.
    package var sorted: [String] { Self.sortedBySet[Int(bits)] }
    private static let sortedBySet: [[String]] = (0..<(1 << names.count)).map { bits in
        names.enumerated().compactMap { bits & (1 << $0) != 0 ? $1 : nil }
    }
}
