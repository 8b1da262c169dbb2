/// How severe an event is, in increasing order: `info`, `warning`, `critical`, `failure`.
public enum EventLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case info = 0
    case warning = 1
    case critical = 2
    case failure = 3

    /// The level's wire name, e.g. `"warning"`.
    public var name: String {
        switch self {
        case .info: "info"
        case .warning: "warning"
        case .critical: "critical"
        case .failure: "failure"
        }
    }

    /// Parses a wire name; `nil` for anything else.
    public init?(name: String) {
        switch name {
        case "info": self = .info
        case "warning": self = .warning
        case "critical": self = .critical
        case "failure": self = .failure
        default: return nil
        }
    }

    public var description: String { name }

    public static func < (lhs: EventLevel, rhs: EventLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What a kind of event does to incidents (SPEC section 5).
public enum EventRole: String, Sendable, CaseIterable {
    /// A problem was seen: opens an incident on its key.
    case detect
    /// A self-healing action was taken: opens or joins an incident, listed in its actions.
    case mitigate
    /// The problem went away: resolves the active incident.
    case recover
    /// Self-healing gave up: the incident fails.
    case fail
    /// A problem was prevented before it happened: counted, no incident.
    case prevent
    /// Context only: no incident is touched.
    case info
}

/// An event kind: one of the vocabulary's names, or a custom `x.<name>` kind.
public struct EventKind: Sendable, Hashable, CustomStringConvertible {
    /// The wire name, e.g. `"pool.warning"` or `"x.cache.miss"`.
    public let name: String
    /// The role that drives the projections.
    public let role: EventRole
    /// The level an event of this kind has when it does not give one.
    public let defaultLevel: EventLevel

    private init(_ name: String, _ role: EventRole, _ level: EventLevel) {
        self.name = name
        self.role = role
        self.defaultLevel = level
    }

    public var description: String { name }

    /// Every kind of the vocabulary, in the order of SPEC section 3.
    public static let vocabulary: [EventKind] = [
        EventKind("error.detected", .detect, .warning),
        EventKind("pool.warning", .detect, .warning),
        EventKind("pool.critical", .detect, .critical),
        EventKind("health.degraded", .detect, .warning),
        EventKind("health.unhealthy", .detect, .critical),
        EventKind("response.invalid", .detect, .warning),
        EventKind("timeout.fired", .detect, .warning),
        EventKind("retry.attempt", .mitigate, .info),
        EventKind("breaker.opened", .mitigate, .warning),
        EventKind("breaker.half_opened", .mitigate, .info),
        EventKind("breaker.rejected", .mitigate, .info),
        EventKind("bulkhead.rejected", .mitigate, .info),
        EventKind("fallback.served", .mitigate, .warning),
        EventKind("degradation.activated", .mitigate, .warning),
        EventKind("retry.succeeded", .recover, .info),
        EventKind("breaker.closed", .recover, .info),
        EventKind("pool.recovered", .recover, .info),
        EventKind("health.recovered", .recover, .info),
        EventKind("degradation.lifted", .recover, .info),
        EventKind("recovery.succeeded", .recover, .info),
        EventKind("retry.exhausted", .fail, .failure),
        EventKind("intervention.required", .fail, .failure),
        EventKind("timeout.prevented", .prevent, .warning),
        EventKind("transition.blocked", .prevent, .warning),
        EventKind("ratelimit.throttled", .prevent, .info),
        EventKind("batch.completed", .info, .info),
    ]

    private static let byName: [String: EventKind] = Dictionary(
        uniqueKeysWithValues: vocabulary.map { ($0.name, $0) }
    )

    /// The kind with this wire name, or `nil` when it is neither in the vocabulary nor a valid `x.` name.
    public init?(name: String) {
        if let known = EventKind.byName[name] {
            self = known
        } else if EventKind.isCustomName(name) {
            self.init(name, .info, .info)
        } else {
            return nil
        }
    }

    /// How an incident opened by this kind is titled, before its component: "Retries on" + " openai". Custom
    /// kinds and kinds that never open an incident use their name: "x.deploy on api".
    public var incidentTitlePrefix: String {
        switch name {
        case "error.detected": "Errors on"
        case "pool.warning": "Connection pool warning on"
        case "pool.critical": "Connection pool critical on"
        case "health.degraded": "Health degraded on"
        case "health.unhealthy": "Health check failing on"
        case "response.invalid": "Invalid responses from"
        case "timeout.fired": "Timeouts on"
        case "retry.attempt": "Retries on"
        case "breaker.opened": "Circuit breaker opened on"
        case "breaker.half_opened": "Circuit breaker probing"
        case "breaker.rejected": "Calls refused by the circuit breaker of"
        case "bulkhead.rejected": "Calls shed by the bulkhead of"
        case "fallback.served": "Fallback served for"
        case "degradation.activated": "Degraded mode on"
        case "retry.exhausted": "Retries exhausted on"
        case "intervention.required": "Intervention required on"
        default: "\(name) on"
        }
    }

    /// `x.` followed by one or more dot-separated non-empty parts of `a-z 0-9 _`.
    static func isCustomName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count > 2, bytes.count <= 128, bytes[0] == UInt8(ascii: "x"), bytes[1] == UInt8(ascii: ".")
        else { return false }
        var partLength = 0
        for byte in bytes[2...] {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                partLength += 1
            case UInt8(ascii: "."):
                if partLength == 0 { return false }
                partLength = 0
            default:
                return false
            }
        }
        return partLength > 0
    }

    // Convenience names for the vocabulary, used by the primitives and tests.
    public static let errorDetected = EventKind(name: "error.detected")!
    public static let poolWarning = EventKind(name: "pool.warning")!
    public static let poolCritical = EventKind(name: "pool.critical")!
    public static let healthDegraded = EventKind(name: "health.degraded")!
    public static let healthUnhealthy = EventKind(name: "health.unhealthy")!
    public static let responseInvalid = EventKind(name: "response.invalid")!
    public static let timeoutFired = EventKind(name: "timeout.fired")!
    public static let retryAttempt = EventKind(name: "retry.attempt")!
    public static let breakerOpened = EventKind(name: "breaker.opened")!
    public static let breakerHalfOpened = EventKind(name: "breaker.half_opened")!
    public static let breakerRejected = EventKind(name: "breaker.rejected")!
    public static let bulkheadRejected = EventKind(name: "bulkhead.rejected")!
    public static let fallbackServed = EventKind(name: "fallback.served")!
    public static let degradationActivated = EventKind(name: "degradation.activated")!
    public static let retrySucceeded = EventKind(name: "retry.succeeded")!
    public static let breakerClosed = EventKind(name: "breaker.closed")!
    public static let poolRecovered = EventKind(name: "pool.recovered")!
    public static let healthRecovered = EventKind(name: "health.recovered")!
    public static let degradationLifted = EventKind(name: "degradation.lifted")!
    public static let recoverySucceeded = EventKind(name: "recovery.succeeded")!
    public static let retryExhausted = EventKind(name: "retry.exhausted")!
    public static let interventionRequired = EventKind(name: "intervention.required")!
    public static let timeoutPrevented = EventKind(name: "timeout.prevented")!
    public static let transitionBlocked = EventKind(name: "transition.blocked")!
    public static let ratelimitThrottled = EventKind(name: "ratelimit.throttled")!
    public static let batchCompleted = EventKind(name: "batch.completed")!
}
