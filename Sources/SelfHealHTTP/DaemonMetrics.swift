import CoreMetrics
import Foundation
import HTTPTypes
import Prometheus
import SelfHealEvents
import Synchronization

/// How events reached the daemon: a label value of the metrics.
public enum Transport: String, Sendable, CaseIterable {
    /// The UNIX socket.
    case socket
    /// `POST /api/v1/events`.
    case http
}

/// The daemon's metrics (SPEC section 9, `/metrics`): recorded through swift-metrics into one Prometheus
/// registry that `/metrics` emits. Names are `selfheal_*` in base units; labels are bounded: transport, route
/// (the route's pattern, never the path), method, status, and services capped at
/// ``HTTPConfiguration/metricServiceLimit`` (the first ones seen; later ones count under `service="other"`).
public final class DaemonMetrics: Sendable {
    /// The registry `/metrics` emits.
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory writing into ``registry``; the daemon's parts make their metrics with it.
    public let factory: any MetricsFactory

    let commits: CoreMetrics.Counter
    let commitFailures: CoreMetrics.Counter
    let commitDuration: CoreMetrics.Timer
    let eventsPerCommit: CoreMetrics.Recorder
    let queueDepth: CoreMetrics.Recorder
    let lastSeq: CoreMetrics.Recorder
    let ingestBodies: CoreMetrics.Recorder
    let ingestWaiting: CoreMetrics.Recorder
    private let byTransport: [Transport: TransportMetrics]
    private let requests = Mutex<[RequestKey: CoreMetrics.Counter]>([:])
    private let requestDurations = Mutex<[String: CoreMetrics.Timer]>([:])
    private let activeIncidents = Mutex<[String: CoreMetrics.Recorder]>([:])
    private let serviceLimit: Int

    struct TransportMetrics: Sendable {
        let accepted: CoreMetrics.Counter
        let duplicates: CoreMetrics.Counter
        let rejected: CoreMetrics.Counter
        let connections: CoreMetrics.Meter
    }

    private struct RequestKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    /// Creates the registry and the daemon's metrics, `selfheal_build_info` set.
    /// - Parameter serviceLimit: how many services get their own label value.
    public init(serviceLimit: Int = 50) {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["selfheal_events_per_commit"] = [1, 10, 100, 1_000, 10_000, 100_000]
        factory.durationHistogramBuckets["selfheal_commit_duration_seconds"] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(5),
        ]
        self.registry = registry
        self.factory = factory
        self.serviceLimit = serviceLimit
        commits = CoreMetrics.Counter(label: "selfheal_commits_total", factory: factory)
        commitFailures = CoreMetrics.Counter(label: "selfheal_commit_failures_total", factory: factory)
        commitDuration = CoreMetrics.Timer(label: "selfheal_commit_duration_seconds", factory: factory)
        eventsPerCommit = CoreMetrics.Recorder(label: "selfheal_events_per_commit", factory: factory)
        queueDepth = CoreMetrics.Recorder(label: "selfheal_writer_queue_events", aggregate: false, factory: factory)
        lastSeq = CoreMetrics.Recorder(label: "selfheal_last_seq", aggregate: false, factory: factory)
        ingestBodies = CoreMetrics.Recorder(label: "selfheal_http_ingest_bodies", aggregate: false, factory: factory)
        ingestWaiting = CoreMetrics.Recorder(
            label: "selfheal_http_ingest_waiting_requests",
            aggregate: false,
            factory: factory
        )
        var byTransport: [Transport: TransportMetrics] = [:]
        for transport in Transport.allCases {
            let label = [("transport", transport.rawValue)]
            byTransport[transport] = TransportMetrics(
                accepted: CoreMetrics.Counter(
                    label: "selfheal_events_accepted_total",
                    dimensions: label,
                    factory: factory
                ),
                duplicates: CoreMetrics.Counter(
                    label: "selfheal_events_duplicate_total",
                    dimensions: label,
                    factory: factory
                ),
                rejected: CoreMetrics.Counter(
                    label: "selfheal_lines_rejected_total",
                    dimensions: label,
                    factory: factory
                ),
                connections: CoreMetrics.Meter(label: "selfheal_connections", dimensions: label, factory: factory)
            )
        }
        self.byTransport = byTransport
        CoreMetrics.Recorder(
            label: "selfheal_build_info",
            dimensions: [("version", SelfHealVersion.current)],
            aggregate: false,
            factory: factory
        ).record(1)
        lastSeq.record(0)
        queueDepth.record(0)
        ingestBodies.record(0)
        ingestWaiting.record(0)
    }

    /// The counters and the connection gauge of one transport.
    func transport(_ transport: Transport) -> TransportMetrics {
        byTransport[transport]!
    }

    /// A connection opened (`+1`) or closed (`-1`) on a transport.
    public func connection(_ transport: Transport, opened: Bool) {
        if opened {
            self.transport(transport).connections.increment()
        } else {
            self.transport(transport).connections.decrement()
        }
    }

    /// One answered request: `selfheal_http_requests_total` and `selfheal_http_request_duration_seconds`.
    func request(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status, duration: Duration) {
        let key = RequestKey(route: route, method: method.rawValue, status: status.code)
        let counter = requests.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = CoreMetrics.Counter(
                label: "selfheal_http_requests_total",
                dimensions: [("route", key.route), ("method", key.method), ("status", String(key.status))],
                factory: factory
            )
            counters[key] = counter
            return counter
        }
        counter.increment()
        let timer = requestDurations.withLock { timers in
            if let timer = timers[route] { return timer }
            let timer = CoreMetrics.Timer(
                label: "selfheal_http_request_duration_seconds",
                dimensions: [("route", route)],
                factory: factory
            )
            timers[route] = timer
            return timer
        }
        timer.recordNanoseconds(Int64(duration / .nanoseconds(1)))
    }

    /// Sets `selfheal_incidents_active` per service: the first `serviceLimit` services seen keep their own
    /// label value for the daemon's life, the others are summed under `service="other"`; services with none
    /// active read 0.
    func setActiveIncidents(_ counts: [String: Int]) {
        var values: [String: Int] = [:]
        activeIncidents.withLock { gauges in
            for service in counts.keys.sorted()
            where gauges[service] == nil && gauges.count - (gauges["other"] == nil ? 0 : 1) < serviceLimit {
                gauges[service] = CoreMetrics.Recorder(
                    label: "selfheal_incidents_active",
                    dimensions: [("service", service)],
                    aggregate: false,
                    factory: factory
                )
            }
            if gauges["other"] == nil {
                gauges["other"] = CoreMetrics.Recorder(
                    label: "selfheal_incidents_active",
                    dimensions: [("service", "other")],
                    aggregate: false,
                    factory: factory
                )
            }
            for (service, count) in counts {
                let label = gauges[service] != nil && service != "other" ? service : "other"
                values[label, default: 0] += count
            }
            for (service, gauge) in gauges { gauge.record(values[service] ?? 0) }
        }
    }
}
