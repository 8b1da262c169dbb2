import HTTPTypes

/// One method and path of the API: the table the responder dispatches on, and that the OpenAPI document must
/// describe (a test checks both ways).
public struct APIRoute: Sendable, Equatable {
    /// The method.
    public var method: HTTPRequest.Method
    /// The path pattern as OpenAPI writes it: `/api/v1/incidents/{id}`.
    public var pattern: String
    /// What the route does.
    var endpoint: Endpoint

    /// The method's name: `GET`, `POST`.
    public var methodName: String { method.rawValue }

    enum Endpoint: Sendable, Equatable {
        case health, metrics, events, incidents, incident, stats, rejects, stream, ingest
        /// A file of the dashboard (SPEC section 9.1), by its name in dashboard/ without the extension.
        case dashboard(String)
    }

    /// Every route the server has.
    public static let all: [APIRoute] = [
        APIRoute(method: .get, pattern: "/", endpoint: .dashboard("index")),
        APIRoute(method: .get, pattern: "/style.css", endpoint: .dashboard("style")),
        APIRoute(method: .get, pattern: "/app.js", endpoint: .dashboard("app")),
        APIRoute(method: .get, pattern: "/chart.js", endpoint: .dashboard("chart")),
        APIRoute(method: .get, pattern: "/healthz", endpoint: .health),
        APIRoute(method: .get, pattern: "/metrics", endpoint: .metrics),
        APIRoute(method: .get, pattern: "/api/v1/events", endpoint: .events),
        APIRoute(method: .post, pattern: "/api/v1/events", endpoint: .ingest),
        APIRoute(method: .get, pattern: "/api/v1/incidents", endpoint: .incidents),
        APIRoute(method: .get, pattern: "/api/v1/incidents/{id}", endpoint: .incident),
        APIRoute(method: .get, pattern: "/api/v1/stats", endpoint: .stats),
        APIRoute(method: .get, pattern: "/api/v1/rejects", endpoint: .rejects),
        APIRoute(method: .get, pattern: "/api/v1/stream", endpoint: .stream),
    ]

    /// What a request's path and method lead to.
    enum Match {
        /// A route, with the value of its `{id}` segment when it has one.
        case route(APIRoute, id: Substring?)
        /// A known path, another method: the methods it takes.
        case wrongMethod(pattern: String, allowed: [HTTPRequest.Method])
        case unknownPath
    }

    static func match(method: HTTPRequest.Method, path: String) -> Match {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var allowed: [HTTPRequest.Method] = []
        var knownPattern: String?
        for route in all {
            guard let id = route.matches(segments) else { continue }
            if route.method == method { return .route(route, id: id.value) }
            knownPattern = route.pattern
            allowed.append(route.method)
        }
        if let knownPattern { return .wrongMethod(pattern: knownPattern, allowed: allowed) }
        return .unknownPath
    }

    /// nil when the path is not this route's; else the `{id}` segment's value (nil inside when there is none).
    private func matches(_ segments: [Substring]) -> (value: Substring?, Void)? {
        let expected = pattern.split(separator: "/", omittingEmptySubsequences: false)
        guard expected.count == segments.count else { return nil }
        var id: Substring?
        for (part, given) in zip(expected, segments) {
            if part == "{id}" {
                guard !given.isEmpty else { return nil }
                id = given
            } else if part != given {
                return nil
            }
        }
        return (id, ())
    }
}
