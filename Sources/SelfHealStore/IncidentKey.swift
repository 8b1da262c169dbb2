import SelfHealEvents

/// The key of an incident (SPEC section 5): `(service, incident)` when the event gives `incident`, else
/// `(service, component)`. Keys of the two sorts never meet, even when the strings are equal.
///
/// The key carries its hash (``keyHash(_:)`` of both strings, whole), computed once when it is made: the
/// ledger looks a key up for every event it applies, and its working set and its filter of keys held only in
/// SQLite share the hash.
package struct IncidentKey: Hashable, Sendable {
    /// The service.
    package let service: String
    /// The incident, or the component.
    package let name: String
    /// Whether ``name`` is the event's `incident`.
    package let byIncident: Bool
    /// The hash of the three fields.
    package let hash: UInt64

    /// The key of these fields.
    package init(service: String, name: String, byIncident: Bool) {
        self.service = service
        self.name = name
        self.byIncident = byIncident
        hash = SplitMix64.mix(keyHash(service) &* 0x9E37_79B9_7F4A_7C15 ^ keyHash(name) ^ (byIncident ? 0x5555 : 0))
    }

    package static func == (lhs: IncidentKey, rhs: IncidentKey) -> Bool {
        lhs.hash == rhs.hash && lhs.byIncident == rhs.byIncident && lhs.service == rhs.service
            && lhs.name == rhs.name
    }

    package func hash(into hasher: inout Hasher) { hasher.combine(hash) }
}
