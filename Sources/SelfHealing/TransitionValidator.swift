import SelfHealEvents

/// A status change that the transition table does not allow.
public struct TransitionError<State: Hashable & Sendable>: Error, Sendable, CustomStringConvertible {
    /// The kind of entity, e.g. `message`.
    public var entity: String
    /// The entity's id.
    public var id: String
    /// Its current status.
    public var from: State
    /// The status that was asked for.
    public var to: State
    /// What tried to change it, e.g. `spam-capture`.
    public var operation: String
    /// The statuses `from` may move to; empty when `from` is terminal.
    public var allowed: [State]

    /// A one-line description a person can act on.
    public var description: String {
        let allowedText =
            allowed.isEmpty
            ? "\(from) is terminal" : "allowed from \(from): \(allowed.map { "\($0)" }.joined(separator: ", "))"
        return "invalid \(entity) transition \(from) -> \(to) for \(id) by \(operation) (\(allowedText))"
    }
}

/// A table of allowed status transitions for one kind of entity, checked before every update.
///
/// ```swift
/// let messages = TransitionValidator<RawStatus>(entity: "message", reporter: reporter, allowed: [
///     .ready: [.spamReview, .promoted],
///     .spamReview: [.ready, .spamArchived],
/// ])  // promoted and spamArchived are terminal: no entry
/// try messages.validate(id: "abc123", from: .promoted, to: .spamReview, operation: "spam-capture")
/// ```
///
/// A blocked transition emits `transition.blocked` with `entity`, `id`, `from`, `to` and `operation`.
public struct TransitionValidator<State: Hashable & Sendable>: Sendable {
    /// The kind of entity, e.g. `message`.
    public let entity: String
    /// Where events go.
    public let reporter: EventReporter
    /// Whether validation is on; when off every transition is allowed.
    public let isEnabled: Bool
    /// Whether staying in the same status counts as allowed. Default false.
    public let allowsSameState: Bool
    private let table: [State: Set<State>]
    private let order: [State: [State]]

    /// Creates a validator.
    /// - Parameters:
    ///   - entity: the kind of entity, e.g. `message`.
    ///   - reporter: where events go.
    ///   - allowed: for each status, the statuses it may move to; a status with no entry is terminal.
    ///   - allowsSameState: whether `from == to` is allowed.
    ///   - isEnabled: when `false` every transition is allowed.
    public init(
        entity: String,
        reporter: EventReporter,
        allowed: KeyValuePairs<State, [State]>,
        allowsSameState: Bool = false,
        isEnabled: Bool = true
    ) {
        self.entity = entity
        self.reporter = reporter
        self.allowsSameState = allowsSameState
        self.isEnabled = isEnabled
        var table: [State: Set<State>] = [:]
        var order: [State: [State]] = [:]
        for (from, targets) in allowed {
            table[from, default: []].formUnion(targets)
            order[from, default: []].append(contentsOf: targets)
        }
        self.table = table
        self.order = order
    }

    /// Whether the table allows `from -> to` (emits nothing).
    public func canTransition(from: State, to: State) -> Bool {
        if !isEnabled || (allowsSameState && from == to) { return true }
        return table[from]?.contains(to) ?? false
    }

    /// The statuses `from` may move to, in table order; empty for a terminal status.
    public func allowedTargets(from: State) -> [State] { order[from] ?? [] }

    /// Checks a transition; a blocked one emits `transition.blocked` and comes back as the error.
    /// - Parameters:
    ///   - id: the entity's id.
    ///   - from: its current status.
    ///   - to: the status asked for.
    ///   - operation: what is changing it, e.g. `spam-capture`.
    public func check(id: String, from: State, to: State, operation: String) -> Result<Void, TransitionError<State>> {
        if canTransition(from: from, to: to) { return .success(()) }
        let error = TransitionError(
            entity: entity,
            id: id,
            from: from,
            to: to,
            operation: operation,
            allowed: allowedTargets(from: from)
        )
        if reporter.isEnabled {
            let entity = entity
            reporter.emit(.transitionBlocked, "Blocked invalid transition: \(from) -> \(to) (\(entity) \(id))") {
                $0.set("entity", entity)
                $0.set("id", id)
                $0.set("from", "\(from)")
                $0.set("to", "\(to)")
                $0.set("operation", operation)
            }
        }
        return .failure(error)
    }

    /// Checks a transition and throws when it is blocked (after emitting `transition.blocked`).
    /// - Throws: ``TransitionError``.
    public func validate(id: String, from: State, to: State, operation: String) throws(TransitionError<State>) {
        try check(id: id, from: from, to: to, operation: operation).get()
    }
}
