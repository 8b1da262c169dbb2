import SelfHealEvents
import Synchronization

/// Utilisation thresholds of a pool or bulkhead, as shares of its maximum (0...1).
public struct PoolThresholds: Sendable, Equatable {
    /// At or above this, the pool is at warning level. Default 0.85.
    public var warning: Double = 0.85
    /// At or above this, the pool is critical. Default 0.92.
    public var critical: Double = 0.92
    /// An elevated pool is back to normal (recovered) below this. Default 0.85, the warning threshold.
    public var recovery: Double = 0.85

    /// Creates the default thresholds.
    public init() {}

    /// Creates thresholds; `recovery` defaults to `warning`.
    public init(warning: Double, critical: Double, recovery: Double? = nil) {
        self.warning = warning
        self.critical = critical
        self.recovery = recovery ?? warning
    }
}

/// How loaded a pool is.
public enum PoolLevel: Int, Sendable, Comparable {
    /// Below the warning threshold.
    case normal
    /// At or above the warning threshold.
    case warning
    /// At or above the critical threshold.
    case critical

    /// Orders by severity, least severe first.
    public static func < (lhs: PoolLevel, rhs: PoolLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The level a pool is at, moved by readings; says which event a reading calls for.
struct PoolLevelTracker: Sendable {
    let thresholds: PoolThresholds
    private(set) var level = PoolLevel.normal

    init(thresholds: PoolThresholds) { self.thresholds = thresholds }

    /// Takes a reading; returns the event kind it calls for, if the level changed in a way worth reporting.
    mutating func update(used: Int, max: Int) -> EventKind? {
        let utilisation = max > 0 ? Double(used) / Double(max) : 0
        let next: PoolLevel
        if utilisation >= thresholds.critical {
            next = .critical
        } else if utilisation >= thresholds.warning || (level != .normal && utilisation >= thresholds.recovery) {
            next = .warning
        } else {
            next = .normal
        }
        defer { level = next }
        switch (level, next) {
        case (.normal, .warning): return .poolWarning
        case (_, .critical) where level != .critical: return .poolCritical
        case (.warning, .normal), (.critical, .normal): return .poolRecovered
        default: return nil
        }
    }
}

extension EventReporter {
    /// Reports a pool level change.
    func reportPool(_ kind: EventKind, used: Int, max: Int) {
        guard isEnabled else { return }
        let percent = max > 0 ? used * 100 / max : 0
        let message =
            switch kind {
            case .poolCritical: "CRITICAL: \(component) at \(percent)% (\(used)/\(max))"
            case .poolRecovered: "\(component) recovered to \(percent)% (\(used)/\(max))"
            default: "\(component) at \(percent)% (\(used)/\(max))"
            }
        emit(kind, message) {
            $0.set("used", used)
            $0.set("max", max)
        }
    }
}

/// Watches the utilisation of a pool the service does not run itself (a database connection pool, say):
/// feed it readings, it emits `pool.warning` at 85%, `pool.critical` at 92% and `pool.recovered` when the pool
/// falls back below the recovery threshold, each on a change of level only.
public final class PoolMonitor: Sendable {
    private let tracker: Mutex<PoolLevelTracker>
    /// Where events go; its component names the pool, e.g. `db-pool`.
    public let reporter: EventReporter

    /// Creates a monitor at normal level.
    /// - Parameters:
    ///   - thresholds: the warning, critical and recovery thresholds.
    ///   - reporter: where events go.
    public init(thresholds: PoolThresholds = PoolThresholds(), reporter: EventReporter) {
        tracker = Mutex(PoolLevelTracker(thresholds: thresholds))
        self.reporter = reporter
    }

    /// Takes one reading of the pool and returns its level.
    @discardableResult
    public func record(used: Int, max: Int) -> PoolLevel {
        // Decided under the lock, emitted after it: a sink may read the monitor.
        let (kind, level) = tracker.withLock { tracker in (tracker.update(used: used, max: max), tracker.level) }
        if let kind { reporter.reportPool(kind, used: used, max: max) }
        return level
    }

    /// The level after the latest reading.
    public var level: PoolLevel { tracker.withLock { $0.level } }
}
