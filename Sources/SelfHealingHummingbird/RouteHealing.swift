import Foundation
import HTTPTypes
import Hummingbird
import SelfHealing
import Synchronization

/// The pipelines of a service's routes, one per route (the component), and how requests are keyed (rate limits
/// per client) and prioritised (what the bulkhead sheds first). Shared by ``SelfHealingMiddleware`` and the
/// health route, which shows every route's breaker.
public final class RouteHealing: Sendable {
    /// Where events go, and the service they are from.
    public let reporter: EventReporter
    /// The switches.
    public let flags: FeatureFlags
    /// The rate key of a request (a client, a user); `nil` to limit the route as a whole. Default the first
    /// `X-Forwarded-For` address, else the whole route.
    public let clientKey: @Sendable (Request) -> String?
    /// How much a request matters when the route's bulkhead is under pressure. Default every request critical.
    public let priority: @Sendable (Request) -> CallPriority
    private let makePipeline: @Sendable (String, ComponentSettings) -> Pipeline
    private let state: Mutex<(pipelines: [String: Pipeline], settings: [String: ComponentSettings])>
    /// The settings every route starts from.
    public let defaults: ComponentSettings

    /// The default settings of a route: a rate limiter (1,000 a minute per client), a bulkhead (100 at once, 200
    /// waiting) and a circuit breaker. No retry, fallback, timeout or hedging: a request's body can be read only
    /// once, and a handler's own dependency calls are where those belong (with a ``Pipeline``).
    public static var routeDefaults: ComponentSettings {
        var settings = ComponentSettings()
        settings.order = [.rateLimiter, .bulkhead, .circuitBreaker]
        settings.rateLimit = .loose
        settings.bulkhead = BulkheadConfiguration(maxConcurrent: 100, maxQueue: 200)
        settings.retry = nil
        settings.retryBudget = nil
        settings.fallback = nil
        settings.rule = RouteHealing.rule
        return settings
    }

    /// The outcome rule for routes: the standard one, and a Hummingbird `HTTPResponseError` judged by its status.
    public static let rule = OutcomeRule { error in
        if let http = error as? any HTTPResponseError { return OutcomeRule.httpOutcome(status: http.status.code) }
        return OutcomeRule.standardClassification(error)
    }

    /// Judges a route's response by its status.
    @Sendable
    public static func judge(_ response: Response) -> (outcome: Outcome, error: (any Error)?) {
        let status = response.status.code
        let outcome = OutcomeRule.httpOutcome(status: status)
        guard outcome != .success else { return (.success, nil) }
        let retryAfter = HTTPError.retryAfter(header: response.headers[.retryAfter])
        return (outcome, HTTPError(statusCode: status, retryAfter: retryAfter))
    }

    /// Creates the routes' registry.
    /// - Parameters:
    ///   - service: the service events are from.
    ///   - sink: where events go.
    ///   - defaults: the settings every route starts from. Default ``routeDefaults``.
    ///   - flags: the switches. Default from the environment.
    ///   - clock: the clock every layer uses.
    ///   - clientKey: the rate key of a request.
    ///   - priority: a request's priority.
    public init<C: Clock>(
        service: String,
        sink: any EventSink,
        defaults: ComponentSettings = RouteHealing.routeDefaults,
        flags: FeatureFlags = .fromEnvironment(),
        clock: C,
        clientKey: @escaping @Sendable (Request) -> String? = RouteHealing.forwardedFor,
        priority: @escaping @Sendable (Request) -> CallPriority = { _ in .critical }
    ) where C.Duration == Duration {
        let reporter = EventReporter(sink: flags.applied(to: sink), service: service).timed(by: clock)
        self.reporter = reporter
        self.flags = flags
        self.defaults = defaults
        self.clientKey = clientKey
        self.priority = priority
        makePipeline = { component, settings in
            var settings = settings
            // Layers that would keep the handler past the request are left out (see `routeDefaults`).
            settings.order.removeAll { [.timeout, .attemptTimeout, .hedging].contains($0) }
            return settings.build(component, reporter: reporter, flags: flags, clock: clock)
        }
        state = Mutex(([:], [:]))
    }

    /// Creates the routes' registry on the continuous clock.
    public convenience init(
        service: String,
        sink: any EventSink,
        defaults: ComponentSettings = RouteHealing.routeDefaults,
        flags: FeatureFlags = .fromEnvironment(),
        clientKey: @escaping @Sendable (Request) -> String? = RouteHealing.forwardedFor,
        priority: @escaping @Sendable (Request) -> CallPriority = { _ in .critical }
    ) {
        self.init(
            service: service,
            sink: sink,
            defaults: defaults,
            flags: flags,
            clock: ContinuousClock(),
            clientKey: clientKey,
            priority: priority
        )
    }

    private static let forwardedForName = HTTPField.Name("X-Forwarded-For")!

    /// The first address of `X-Forwarded-For`, if any.
    @Sendable
    public static func forwardedFor(_ request: Request) -> String? {
        // The first field's value: the first address is in it. (`headers[name]` joins every field of the name
        // into a new string, and Foundation's `trimmingCharacters(in:)` cost microseconds per request.)
        guard let header = request.headers.first(where: { $0.name == forwardedForName })?.value else { return nil }
        let bytes = header.utf8
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        var end = bytes.firstIndex(of: UInt8(ascii: ",")) ?? bytes.endIndex
        var start = bytes.startIndex
        while start < end, blank(bytes[start]) { start = bytes.index(after: start) }
        while end > start, blank(bytes[bytes.index(before: end)]) { end = bytes.index(before: end) }
        return start == end ? nil : String(header[start..<end])
    }

    /// Whether the middleware does anything (`SELF_HEALING_ENABLED`).
    public var isEnabled: Bool { flags.enabled }

    /// Changes a route's settings, e.g. `configure("GET /api/reports") { $0.bulkhead = .init(maxConcurrent: 4) }`.
    public func configure(_ route: String, _ update: (inout ComponentSettings) -> Void) {
        var settings = state.withLock { $0.settings[route] } ?? defaults
        update(&settings)
        let pipeline = makePipeline(route, settings)
        state.withLock {
            $0.settings[route] = settings
            $0.pipelines[route] = pipeline
        }
    }

    /// A route's pipeline (made on first use).
    public func pipeline(for route: String) -> Pipeline {
        if let existing = state.withLock({ $0.pipelines[route] }) { return existing }
        let made = makePipeline(route, defaults)
        return state.withLock { state in
            if let existing = state.pipelines[route] { return existing }
            state.pipelines[route] = made
            return made
        }
    }

    /// Every route's state, by route.
    public var snapshots: [PipelineSnapshot] {
        state.withLock { Array($0.pipelines.values) }.map(\.snapshot).sorted { $0.component < $1.component }
    }
}
