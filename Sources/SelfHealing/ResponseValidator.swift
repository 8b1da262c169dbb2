import Foundation
import SelfHealEvents

/// An HTTP response that is not the JSON it should be: an error status, an HTML error page, or JSON that does not
/// decode. Carries the status and a short excerpt of the body instead of a confusing parse error.
public struct InvalidResponseError: HTTPStatusError, Sendable, CustomStringConvertible {
    /// What was wrong with the response.
    public enum Reason: Sendable, Equatable {
        /// The status was not 2xx.
        case errorStatus
        /// The body is not JSON (e.g. an HTML error page).
        case notJSON
        /// The body is JSON but not the expected shape.
        case undecodable(String)

        /// A short name for events: `error_status`, `not_json`, `undecodable`.
        public var name: String {
            switch self {
            case .errorStatus: "error_status"
            case .notJSON: "not_json"
            case .undecodable: "undecodable"
            }
        }
    }

    /// The HTTP status.
    public var statusCode: Int
    /// The `Content-Type` header, if any.
    public var contentType: String?
    /// The start of the body, whitespace collapsed, at most 80 characters.
    public var excerpt: String
    /// What was wrong.
    public var reason: Reason
    /// What was called, e.g. `/api/manager/assistance`.
    public var endpoint: String?
    /// The delay the server asked for in `Retry-After`, if any.
    public var retryAfter: Duration?

    /// A one-line description a person can act on.
    public var description: String {
        let target = endpoint.map { " from \($0)" } ?? ""
        switch reason {
        case .errorStatus: return "HTTP \(statusCode)\(target): \(excerpt)"
        case .notJSON:
            return "HTTP \(statusCode)\(target) is not JSON (\(contentType ?? "no content type")): \(excerpt)"
        case .undecodable(let detail): return "HTTP \(statusCode)\(target) has unexpected JSON (\(detail)): \(excerpt)"
        }
    }
}

/// Turns HTTP responses into typed values or an ``InvalidResponseError``, and reports the invalid ones.
///
/// Emits `response.invalid` (attrs `status`, `content_type`, `reason`, `endpoint`) for every invalid response.
public struct ResponseValidator: Sendable {
    /// Where events go; its component names the API, e.g. `/api/manager/assistance`.
    public let reporter: EventReporter
    /// How the JSON is decoded.
    public let makeDecoder: @Sendable () -> JSONDecoder

    /// Creates a validator.
    /// - Parameters:
    ///   - reporter: where events go.
    ///   - makeDecoder: makes the decoder for each response. Default a plain `JSONDecoder`.
    public init(reporter: EventReporter, makeDecoder: @escaping @Sendable () -> JSONDecoder = { JSONDecoder() }) {
        self.reporter = reporter
        self.makeDecoder = makeDecoder
    }

    /// Decodes a 2xx JSON response, or throws a typed error with the status and an excerpt.
    /// - Parameters:
    ///   - type: the expected type.
    ///   - status: the HTTP status.
    ///   - contentType: the `Content-Type` header.
    ///   - body: the body bytes.
    ///   - endpoint: what was called, for the error and the event.
    ///   - retryAfter: the `Retry-After` delay, if the response had one.
    public func decode<T: Decodable>(
        _ type: T.Type,
        status: Int,
        contentType: String?,
        body: Data,
        endpoint: String? = nil,
        retryAfter: Duration? = nil
    ) throws(InvalidResponseError) -> T {
        func invalid(_ reason: InvalidResponseError.Reason) -> InvalidResponseError {
            let error = InvalidResponseError(
                statusCode: status,
                contentType: contentType,
                excerpt: Self.excerpt(body),
                reason: reason,
                endpoint: endpoint,
                retryAfter: retryAfter
            )
            report(error)
            return error
        }
        guard Self.looksLikeJSON(contentType: contentType, body: body) else { throw invalid(.notJSON) }
        guard (200..<300).contains(status) else { throw invalid(.errorStatus) }
        do {
            let value = try makeDecoder().decode(T.self, from: body)
            reporter.recoverIfFailing("a valid response")
            return value
        } catch {
            throw invalid(.undecodable(Self.summary(of: error)))
        }
    }

    /// Whether the body is a JSON object or array. The body decides, not the header: servers label HTML error
    /// pages `application/json` and JSON `text/plain` often enough.
    public static func looksLikeJSON(contentType: String?, body: Data) -> Bool {
        let first = body.first { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }
        return first == 0x7B || first == 0x5B
    }

    /// The start of a body, whitespace collapsed, cut at 80 characters.
    public static func excerpt(_ body: Data) -> String {
        let text = String(decoding: body.prefix(512), as: UTF8.self)
        let collapsed = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return collapsed.count > 80 ? String(collapsed.prefix(80)) + "..." : collapsed
    }

    private static func summary(of error: any Error) -> String {
        guard let decoding = error as? DecodingError else { return describe(error) }
        switch decoding {
        case .keyNotFound(let key, _): return "missing key \"\(key.stringValue)\""
        case .typeMismatch(let type, let context): return "\(type) expected at \(path(context.codingPath))"
        case .valueNotFound(let type, let context): return "\(type) missing at \(path(context.codingPath))"
        case .dataCorrupted(let context): return "invalid JSON at \(path(context.codingPath))"
        @unknown default: return describe(error)
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "top level" : keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    private func report(_ error: InvalidResponseError) {
        guard reporter.isEnabled else { return }
        reporter.emit(.responseInvalid, error.description) {
            $0.set("status", error.statusCode)
            $0.set("content_type", error.contentType ?? "")
            $0.set("reason", error.reason.name)
            if let endpoint = error.endpoint { $0.set("endpoint", endpoint) }
        }
    }
}
