import Foundation
import HTTPTypes
import SelfHealEvents
import SelfHealStore

/// An answer other than 200: a status and a message, sent as `{"error":"..."}` (SPEC section 9).
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String
    /// Extra header fields (`Allow`, `Retry-After`, `WWW-Authenticate`).
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    /// `{"error":"..."}` and a newline.
    var body: String {
        var json = JSONText()
        json.string("error", message)
        return json.finish() + "\n"
    }
}

/// The query string of a request, parsed once: names must be known and given once, values are
/// percent-decoded (a `+` stays a `+`, so `2025-11-25T10:00:00+01:00` works as typed).
struct QueryParameters: Sendable {
    private var values: [String: String] = [:]
    private var order: [String] = []
    /// The instant `now` and relative times mean.
    let now: Int64
    private var duplicate: String?
    private var undecodable: String?

    init(query: String?, now: Int64) {
        self.now = now
        guard let query, !query.isEmpty else { return }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = String(parts[0]).removingPercentEncoding else {
                undecodable = undecodable ?? String(parts[0])
                continue
            }
            let raw = parts.count > 1 ? String(parts[1]) : ""
            guard let value = raw.removingPercentEncoding else {
                undecodable = undecodable ?? name
                continue
            }
            if values[name] != nil { duplicate = duplicate ?? name }
            values[name] = value
            order.append(name)
        }
    }

    /// Fails on a parameter the route does not take, one given twice, or one that does not decode.
    func allow(_ names: Set<String>) throws(APIError) {
        if let undecodable { throw APIError(.badRequest, "parameter \"\(undecodable)\" is not valid percent-encoding") }
        for name in order where !names.contains(name) {
            throw APIError(
                .badRequest,
                "unknown parameter \"\(name)\"; this path takes \(names.sorted().joined(separator: ", "))"
            )
        }
        if let duplicate { throw APIError(.badRequest, "parameter \"\(duplicate)\" is given more than once") }
        if let empty = order.first(where: { values[$0]?.isEmpty ?? false }) {
            throw APIError(.badRequest, "parameter \"\(empty)\" is empty; leave it out for its default")
        }
    }

    /// A parameter's value (``allow(_:)`` has refused empty ones).
    func value(_ name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    /// `since` (default -24h) and `until` (default now), in the command line's syntax, dates in `tz`.
    func range() throws(APIError) -> (since: Int64, until: Int64) {
        let parser = TimeExpression(zone: try zone(), now: now)
        let since = try time("since", parser: parser) ?? now - 86_400_000
        let until = try time("until", parser: parser) ?? now
        guard since <= until else { throw APIError(.badRequest, "parameter \"since\" is after \"until\"") }
        return (since, until)
    }

    /// `as_of` (default now), in the command line's syntax.
    func asOf() throws(APIError) -> Int64 {
        try time("as_of", parser: TimeExpression(zone: try zone(), now: now)) ?? now
    }

    private func time(_ name: String, parser: TimeExpression) throws(APIError) -> Int64? {
        guard let text = value(name) else { return nil }
        do { return try parser.millis(text) } catch {
            throw APIError(.badRequest, "parameter \"\(name)\": \(error.message)")
        }
    }

    private func zone() throws(APIError) -> TimeZone {
        guard let name = value("tz") else { return TimeZone.current }
        guard let zone = TimeZone(identifier: name) else {
            throw APIError(.badRequest, "parameter \"tz\": unknown time zone \"\(name)\"")
        }
        return zone
    }

    /// `service`, checked against the wire format's rule.
    func service() throws(APIError) -> String? {
        guard let service = value("service") else { return nil }
        let allowed = service.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "._-:/".unicodeScalars.contains(scalar))
        }
        guard allowed, service.unicodeScalars.count <= WireLimits.maximumServiceLength else {
            throw APIError(
                .badRequest,
                "parameter \"service\": 1-\(WireLimits.maximumServiceLength) characters of A-Z a-z 0-9 . _ - : /"
            )
        }
        return service
    }

    /// `kind`: a kind of the vocabulary or a custom `x.` kind.
    func kind() throws(APIError) -> String? {
        guard let kind = value("kind") else { return nil }
        guard EventKind(name: kind) != nil else {
            throw APIError(.badRequest, "parameter \"kind\": unknown kind \"\(kind)\"")
        }
        return kind
    }

    /// `state`: open, resolved, failed (or expired, once the store has it).
    func state() throws(APIError) -> IncidentState? {
        guard let text = value("state") else { return nil }
        guard let state = IncidentState(rawValue: text) else {
            let names = IncidentState.allCases.map(\.rawValue).joined(separator: ", ")
            throw APIError(.badRequest, "parameter \"state\": \"\(text)\" is not one of \(names)")
        }
        return state
    }

    /// `min_level`: info, warning, critical or failure.
    func level() throws(APIError) -> EventLevel? {
        guard let text = value("min_level") else { return nil }
        guard let level = EventLevel(name: text) else {
            throw APIError(
                .badRequest,
                "parameter \"min_level\": \"\(text)\" is not info, warning, critical or failure"
            )
        }
        return level
    }

    /// A whole number in a range.
    func integer(_ name: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let text = value(name) else { return nil }
        guard let number = Int(text), range.contains(number) else {
            throw APIError(
                .badRequest,
                "parameter \"\(name)\" must be a whole number from \(range.lowerBound) to \(range.upperBound)"
            )
        }
        return number
    }
}
