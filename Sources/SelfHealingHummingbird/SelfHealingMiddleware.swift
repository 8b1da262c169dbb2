import Foundation
import HTTPTypes
import Hummingbird
import SelfHealing

/// Applies a pipeline to every route it is added before: the component is the route (`GET /api/users/{id}`),
/// each route has its own rate limiter, bulkhead and circuit breaker (settings per route through
/// ``RouteHealing/configure(_:_:)``), and responses are judged by the outcome rule: a 5xx, 408 or 429 counts
/// against the route, a 404 or 400 does not.
///
/// Load it sheds answers at once, without running the handler: `429 Too Many Requests` with `Retry-After` when the
/// client's rate is spent, `503 Service Unavailable` when the route's bulkhead is full or its breaker open
/// (`Retry-After` when known).
///
/// ```swift
/// let routes = RouteHealing(service: "portal", sink: emitter)
/// router.add(middleware: SelfHealingMiddleware(routes))
/// router.get("/api/manager/assistance") { request, context in ... }
/// ```
public struct SelfHealingMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The routes' pipelines.
    public let routes: RouteHealing

    /// Creates the middleware.
    /// - Parameter routes: the routes' pipelines and how requests are keyed and prioritised.
    public init(_ routes: RouteHealing) {
        self.routes = routes
    }

    /// Runs the route through its pipeline.
    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard routes.isEnabled else { return try await next(request, context) }
        let component = "\(request.method) \(context.endpointPath ?? request.uri.path)"
        let pipeline = routes.pipeline(for: component)
        let call = PipelineCall<Response>(
            rateKey: routes.clientKey(request),
            priority: routes.priority(request),
            judge: RouteHealing.judge
        )
        do {
            // The route's layers never keep the handler beyond this call (timeouts and hedging are not used on
            // routes), so the handler may be treated as escaping and sendable for the call's duration.
            return try await withoutActuallyEscaping(next) { next in
                let handler = unsafeBitCast(next, to: (@Sendable (Request, Context) async throws -> Response).self)
                return try await pipeline.run(call) { try await handler(request, context) }
            }
        } catch let error as RateLimitedError {
            return Self.refusal(.tooManyRequests, retryAfter: error.retryAfter, message: error.description)
        } catch let error as CircuitOpenError {
            return Self.refusal(.serviceUnavailable, retryAfter: error.retryAfter, message: error.description)
        } catch let error as BulkheadFullError {
            return Self.refusal(.serviceUnavailable, retryAfter: nil, message: error.description)
        }
    }

    /// A JSON refusal with a `Retry-After` in whole seconds (rounded up) when known.
    static func refusal(_ status: HTTPResponse.Status, retryAfter: Duration?, message: String) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter {
            let (seconds, attoseconds) = retryAfter.components
            headers[.retryAfter] = String(max(1, seconds + (attoseconds > 0 ? 1 : 0)))
        }
        var json = JSONText()
        json.string("error", message)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json.finish())))
    }
}
