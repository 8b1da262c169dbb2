import SelfHealEvents
import Synchronization

/// How healthy a check, or the whole service, is.
public enum HealthStatus: Int, Sendable, Comparable, CustomStringConvertible {
    /// Working normally.
    case healthy
    /// Working, but slow or partly failing.
    case degraded
    /// Not working.
    case unhealthy

    /// Orders by severity, least severe first.
    public static func < (lhs: HealthStatus, rhs: HealthStatus) -> Bool { lhs.rawValue < rhs.rawValue }

    /// A one-line description a person can act on.
    public var description: String {
        switch self {
        case .healthy: "healthy"
        case .degraded: "degraded"
        case .unhealthy: "unhealthy"
        }
    }
}

/// The outcome of one check in a ``HealthReport``.
public struct HealthCheckReport: Sendable, Equatable {
    /// The check's name, e.g. `database`.
    public var name: String
    /// What it found.
    public var status: HealthStatus
    /// How long it took.
    public var responseTime: Duration
    /// The error, when it failed.
    public var error: String?
}

/// A recent failure of a check.
public struct HealthError: Sendable, Equatable {
    /// The check's name.
    public var check: String
    /// The error.
    public var error: String
    /// When it happened, epoch milliseconds.
    public var timestamp: Int64
}

/// The state of every check after a round.
public struct HealthReport: Sendable, Equatable {
    /// The worst status of all checks (healthy when there are none).
    public var status: HealthStatus
    /// Each check, in registration order.
    public var checks: [HealthCheckReport]
    /// The most recent failures, oldest first.
    public var recentErrors: [HealthError]
}

/// A health monitor's settings.
public struct HealthMonitorConfiguration: Sendable {
    /// Whether checks run; when off a round reports healthy without running them.
    public var isEnabled: Bool = true
    /// A healthy check slower than this counts as degraded. Default 1 s.
    public var slowThreshold: Duration = .seconds(1)
    /// Failures kept in ``HealthReport/recentErrors``. Default 20.
    public var recentErrorLimit: Int = 20
    /// A check that takes longer is cancelled and counts as unhealthy, so a hung check cannot stall its round;
    /// `nil` for no limit. Default 5 s.
    public var checkTimeout: Duration? = .seconds(5)

    /// Creates a configuration with the documented defaults.
    public init() {}
}

/// Runs registered health checks and reports changes.
///
/// A check returns ``HealthStatus/healthy`` or ``HealthStatus/degraded``, or throws for unhealthy; a slow healthy
/// check is degraded. On a change only, emits `health.degraded` (attrs `check`, `response_ms`),
/// `health.unhealthy` (`check`, `error`) or `health.recovered` (`check`), with the check's name as component.
public final class HealthMonitor<C: Clock>: Sendable where C.Duration == Duration {
    /// A health check: returns healthy or degraded, throws when unhealthy.
    public typealias Check = @Sendable () async throws -> HealthStatus

    private struct State {
        var checks: [(name: String, check: Check)] = []
        var statuses: [String: HealthStatus] = [:]
        var recentErrors: [HealthError] = []
        var lastReport = HealthReport(status: .healthy, checks: [], recentErrors: [])
    }

    /// The monitor's settings.
    public let configuration: HealthMonitorConfiguration
    /// Where events go; each check reports under its own name as component.
    public let reporter: EventReporter
    /// The clock that times checks and paces ``run(every:)``.
    public let clock: C
    private let state = Mutex(State())
    private let timers: Timers

    /// Creates a monitor with no checks.
    /// - Parameters:
    ///   - configuration: thresholds and limits.
    ///   - reporter: where events go.
    ///   - clock: the clock that times checks.
    public init(
        configuration: HealthMonitorConfiguration = HealthMonitorConfiguration(),
        reporter: EventReporter,
        clock: C
    ) {
        self.configuration = configuration
        self.reporter = reporter.timed(by: clock)
        self.clock = clock
        timers = Timers(clock)
    }

    /// Adds a check; a check with the same name is replaced.
    public func register(_ name: String, check: @escaping Check) {
        state.withLock { state in
            if let index = state.checks.firstIndex(where: { $0.name == name }) {
                state.checks[index].check = check
            } else {
                state.checks.append((name, check))
            }
        }
    }

    /// The report of the latest round.
    public var lastReport: HealthReport { state.withLock { $0.lastReport } }

    /// The name of the first registered check, if any (the quick health answer runs it).
    public var firstCheckName: String? { state.withLock { $0.checks.first?.name } }

    /// Runs every check once, one after the other, and reports the changes.
    @discardableResult
    public func checkAll() async -> HealthReport { await checkAll(only: nil) }

    /// Runs the named checks (all when `nil`) once, one after the other, and reports the changes.
    @discardableResult
    public func checkAll(only names: Set<String>?) async -> HealthReport {
        guard configuration.isEnabled else { return HealthReport(status: .healthy, checks: [], recentErrors: []) }
        let checks = state.withLock { $0.checks }.filter { names?.contains($0.name) ?? true }
        var reports: [HealthCheckReport] = []
        for (name, check) in checks {
            let start = clock.now
            var status: HealthStatus
            var failure: String?
            do {
                if let limit = configuration.checkTimeout {
                    status = try await withTimeout(limit, name: name, check)
                } else {
                    status = try await check()
                }
            } catch {
                status = .unhealthy
                failure = describe(error)
            }
            let elapsed = start.duration(to: clock.now)
            if status == .healthy, elapsed > configuration.slowThreshold { status = .degraded }
            reports.append(HealthCheckReport(name: name, status: status, responseTime: elapsed, error: failure))
        }
        let now = reporter.nowMilliseconds
        let limit = max(0, configuration.recentErrorLimit)
        var changes: [HealthCheckReport] = []
        defer { for change in changes { reportChange(change) } }
        return state.withLock { state in
            for report in reports {
                let previous = state.statuses[report.name] ?? .healthy
                state.statuses[report.name] = report.status
                if let error = report.error {
                    state.recentErrors.append(HealthError(check: report.name, error: error, timestamp: now))
                    if state.recentErrors.count > limit {
                        state.recentErrors.removeFirst(state.recentErrors.count - limit)
                    }
                }
                if previous != report.status { changes.append(report) }
            }
            let overall = reports.map(\.status).max() ?? .healthy
            let report = HealthReport(status: overall, checks: reports, recentErrors: state.recentErrors)
            if names == nil { state.lastReport = report }
            return report
        }
    }

    /// Runs a check under the time limit: the caller gets ``TimeoutError`` when it passes, the check is cancelled.
    private func withTimeout(_ limit: Duration, name: String, _ check: @escaping Check) async throws -> HealthStatus {
        let race = TimeoutRace()
        let timer = timers.after(limit) { race.finish(.failure(TimeoutError(component: name, timeout: limit))) }
        defer { timer.cancel() }
        // The value is the check's: a HealthStatus.
        return try await race.run { try await check() }.get() as! HealthStatus
    }

    /// Runs a round every `interval` until the task is cancelled.
    public func run(every interval: Duration) async throws {
        while !Task.isCancelled {
            await checkAll()
            try await clock.sleep(for: interval)
        }
    }

    private func reportChange(_ report: HealthCheckReport) {
        let reporter = reporter.component(report.name)
        guard reporter.isEnabled else { return }
        let name = report.name
        let milliseconds = report.responseTime.milliseconds
        switch report.status {
        case .healthy:
            reporter.emit(.healthRecovered, "Health check \(name) recovered") { $0.set("check", name) }
        case .degraded:
            reporter.emit(.healthDegraded, "Health check \(name) degraded (\(milliseconds) ms)") {
                $0.set("check", name)
                $0.set("response_ms", milliseconds)
            }
        case .unhealthy:
            let error = report.error ?? "unhealthy"
            reporter.emit(.healthUnhealthy, "Health check \(name) failed: \(error)") {
                $0.set("check", name)
                $0.set("error", error)
            }
        }
    }
}

extension HealthMonitor where C == ContinuousClock {
    /// Creates a monitor with no checks on the continuous clock.
    /// - Parameters:
    ///   - configuration: thresholds and limits.
    ///   - reporter: where events go.
    public convenience init(
        configuration: HealthMonitorConfiguration = HealthMonitorConfiguration(),
        reporter: EventReporter
    ) {
        self.init(configuration: configuration, reporter: reporter, clock: ContinuousClock())
    }
}
