import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import Prometheus
import SelfHealEvents
import Synchronization

/// Whether the writer commits: `/healthz` answers 503 after a failed commit, until one succeeds.
final class WriterHealth: Sendable {
    private let failure = Mutex<String?>(nil)

    func succeeded() { failure.withLock { $0 = nil } }
    func failed(_ message: String) { failure.withLock { $0 = message } }
    var lastFailure: String? { failure.withLock { $0 } }
}

/// Answers every request: access, routing (404 and 405 with json bodies), the handlers, and the request metrics.
struct APIResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let configuration: HTTPConfiguration
    let queries: Queries
    let writer: any IngestWriter
    let metrics: DaemonMetrics
    let health: WriterHealth
    let hub: EventHub
    let permits: BodyPermits
    let queueDepth: @Sendable () -> Int
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let match = APIRoute.match(method: request.method, path: request.uri.path)
        let label: String
        let response: Response
        switch match {
        case .route(let route, _): label = route.pattern
        case .wrongMethod(let pattern, _): label = pattern
        case .unknownPath: label = "unmatched"
        }
        do {
            response = try await answer(request, match)
        } catch let error as APIError {
            response = Self.error(error)
        } catch let error as HTTPError {
            response = Self.error(APIError(error.status, error.body ?? error.status.reasonPhrase))
        } catch {
            logger.error("http request failed", metadata: ["route": "\(label)", "error": "\(error)"])
            response = Self.error(APIError(.internalServerError, "internal error"))
        }
        metrics.request(route: label, method: request.method, status: response.status, duration: .now - started)
        return response
    }

    private func answer(_ request: Request, _ match: APIRoute.Match) async throws -> Response {
        let isHealth: Bool
        if case .route(let route, _) = match, route.endpoint == .health { isHealth = true } else { isHealth = false }
        if !isHealth && !configuration.tokens.isEmpty
            && !configuration.tokens.admits(request.headers[.authorization])
        {
            var headers = HTTPFields()
            headers.append(HTTPField(name: .wwwAuthenticate, value: "Bearer realm=\"selfheal\""))
            headers.append(HTTPField(name: .wwwAuthenticate, value: "Basic realm=\"selfheal\", charset=\"UTF-8\""))
            throw APIError(.unauthorized, "a token is needed: Authorization: Bearer TOKEN", headers: headers)
        }
        switch match {
        case .unknownPath:
            throw APIError(.notFound, "no such path: \(request.uri.path)")
        case .wrongMethod(let pattern, let allowed):
            let names = allowed.map(\.rawValue).joined(separator: ", ")
            throw APIError(
                .methodNotAllowed,
                "\(pattern) takes \(names), not \(request.method.rawValue)",
                headers: [.allow: names]
            )
        case .route(let route, let id):
            let query = QueryParameters(query: request.uri.query, now: WallClock.nowMillis())
            switch route.endpoint {
            case .health: return healthz()
            case .metrics: return try await metricsText()
            case .events: return try await Self.json(.ok, offLoop { try queries.events(query) })
            case .incidents: return try await Self.json(.ok, offLoop { try queries.incidents(query) })
            case .incident: return try await incident(id: id, query)
            case .stats: return try await Self.json(.ok, offLoop { try queries.stats(query) })
            case .rejects: return try await Self.json(.ok, offLoop { try queries.rejects(query) })
            case .stream: return try await stream(request, query)
            case .ingest: return try await ingest(request)
            case .dashboard(let name): return try dashboardFile(name, query)
            }
        }
    }

    private func healthz() -> Response {
        var json = JSONText()
        if let failure = health.lastFailure {
            json.string("status", "failing")
            json.string("error", failure)
            return Self.json(.serviceUnavailable, json.finish() + "\n")
        }
        json.string("status", "ok")
        return Self.json(.ok, json.finish() + "\n")
    }

    private func metricsText() async throws -> Response {
        let (active, lastSeq) = try await offLoop { [queries] in
            (try queries.activeIncidents(now: WallClock.nowMillis()), try queries.lastSeq())
        }
        metrics.setActiveIncidents(Dictionary(active.map { ($0.service, 1) }, uniquingKeysWith: +))
        metrics.lastSeq.record(lastSeq)
        metrics.queueDepth.record(queueDepth())
        var bytes: [UInt8] = []
        metrics.registry.emit(into: &bytes)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    private func incident(id text: Substring?, _ query: QueryParameters) async throws -> Response {
        guard let text, let id = Int64(text), id > 0 else {
            throw APIError(.badRequest, "parameter \"id\" must be a positive whole number, not \"\(text ?? "")\"")
        }
        guard let object = try await offLoop({ try queries.incident(id: id, query) }) else {
            throw APIError(.notFound, "no incident \(id)")
        }
        return Self.json(.ok, object)
    }

    private func ingest(_ request: Request) async throws -> Response {
        if let refusal = configuration.ingestRefusal {
            throw APIError(.methodNotAllowed, refusal, headers: [.allow: "GET"])
        }
        guard !configuration.tokens.isEmpty else {
            throw APIError(
                .forbidden,
                "ingest over HTTP needs a token: start the daemon with --http-token-file FILE"
            )
        }
        let limit = configuration.maximumBodyBytes
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw APIError(.contentTooLarge, IngestBodyError.tooLarge(limit: limit).message)
        }
        await permits.acquire()
        defer { permits.release() }
        var reader = IngestBodyReader(limit: limit)
        do {
            for try await part in request.body {
                try part.withUnsafeReadableBytes { bytes throws(IngestBodyError) in try reader.append(bytes) }
            }
        } catch let error as IngestBodyError {
            throw APIError(.contentTooLarge, error.message)
        } catch {
            throw APIError(.badRequest, IngestBodyError.cutShort.message)
        }
        let body = IngestBody(reader.lines(), receivedAt: WallClock.nowMillis())
        switch await writer.commit(body, waitingAtMost: configuration.queueWait) {
        case .committed(let reply):
            return Self.json(.ok, reply)
        case .failed(let reply):
            return Self.json(
                .serviceUnavailable,
                reply,
                headers: [.retryAfter: String(configuration.retryAfterSeconds)]
            )
        case .queueFull:
            throw APIError(
                .serviceUnavailable,
                "the writer's queue stayed full for \(configuration.queueWait): nothing of the body is stored; "
                    + "send it again later",
                headers: [.retryAfter: String(configuration.retryAfterSeconds)]
            )
        case .shuttingDown:
            throw APIError(
                .serviceUnavailable,
                "the daemon is stopping: nothing of the body is stored",
                headers: [.retryAfter: String(configuration.retryAfterSeconds)]
            )
        }
    }

    /// Runs a blocking store read on the thread pool, never on an event loop.
    func offLoop<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    static func json(_ status: HTTPResponse.Status, _ text: String, headers: HTTPFields = [:]) -> Response {
        json(status, ByteBuffer(string: text), headers: headers)
    }

    static func json(_ status: HTTPResponse.Status, _ body: ByteBuffer, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: body))
    }

    static func error(_ error: APIError) -> Response {
        json(error.status, error.body, headers: error.headers)
    }
}
