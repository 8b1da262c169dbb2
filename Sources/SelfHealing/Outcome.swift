import Foundation

/// What a call's result says about the dependency: the one rule every primitive judges by.
public enum Outcome: Sendable, Equatable {
    /// The dependency answered well.
    case success
    /// The dependency failed (an error, a 5xx, 408 or 429, a timeout, an answer judged bad): the breaker counts
    /// it, retry tries again, the fallback stands in.
    case failure
    /// A protective primitive refused the call (an open circuit, a full bulkhead, a rate limit): not the
    /// dependency's fault, so the breaker does not count it; the fallback may stand in; retry waits only for a
    /// rate limit that says when to come back.
    case rejected
    /// The call failed for a reason that says nothing about the dependency (a 404, a 400, bad input): not
    /// counted, not retried, not hidden by the fallback.
    case ignored
    /// The task was cancelled: neither success nor failure. Not counted, not retried, not served from cache.
    case cancelled
}

/// An error that says when to try again (a `Retry-After` header, a rate limiter's refill).
public protocol RetryAfterProviding: Error {
    /// How long to wait before trying again, if known.
    var retryAfter: Duration? { get }
}

/// A returned value that can judge itself (an HTTP response: a 5xx is a failure though no error was thrown).
public protocol OutcomeJudging {
    /// The outcome this value stands for, and the error to report when it is not a success.
    var judgedOutcome: (outcome: Outcome, error: (any Error)?) { get }
}

/// A value that was returned but judged a failure: carried by retry's and the breaker's events.
public struct JudgedFailure: Error, Sendable, CustomStringConvertible {
    /// Why the value is a failure, e.g. `HTTP 503`.
    public var reason: String
    /// The delay the value asked for (a response's `Retry-After`), if any.
    public var retryAfter: Duration?

    /// Creates the error.
    public init(reason: String, retryAfter: Duration? = nil) {
        self.reason = reason
        self.retryAfter = retryAfter
    }

    /// The reason.
    public var description: String { reason }
}

extension JudgedFailure: RetryAfterProviding {}

/// The outcome rule: how errors (and, optionally, returned values) are classified, and how long a server may
/// make us wait. Shared by retry, breaker, fallback, timeout and the integrations, so they never disagree.
///
/// The standard rule: `CancellationError` (or any error once the task is cancelled) is ``Outcome/cancelled``;
/// ``CircuitOpenError``, ``BulkheadFullError`` and ``RateLimitedError`` are ``Outcome/rejected``; an
/// ``HTTPStatusError`` with a 5xx, 408 or 429 is a failure, any other 4xx is ``Outcome/ignored``; everything else
/// (``TimeoutError``, ``InvalidResponseError`` of a 2xx, I/O errors) is a failure.
public struct OutcomeRule: Sendable {
    /// Classifies an error; default ``standardClassification(_:)``.
    public var classify: @Sendable (any Error) -> Outcome
    /// The longest `Retry-After` honoured; a longer one is cut to this. Default 60 s.
    public var maxRetryAfter: Duration

    /// Creates a rule.
    /// - Parameters:
    ///   - maxRetryAfter: the longest `Retry-After` honoured.
    ///   - classify: classifies an error.
    public init(
        maxRetryAfter: Duration = .seconds(60),
        classify: @escaping @Sendable (any Error) -> Outcome = OutcomeRule.standardClassification
    ) {
        self.maxRetryAfter = maxRetryAfter
        self.classify = classify
    }

    /// The standard rule.
    public static let standard = OutcomeRule()

    /// The standard classification of an error (see the type's documentation).
    @Sendable
    public static func standardClassification(_ error: any Error) -> Outcome {
        switch error {
        case is CancellationError: return .cancelled
        case is CircuitOpenError, is BulkheadFullError, is RateLimitedError: return .rejected
        case let http as any HTTPStatusError: return httpOutcome(status: http.statusCode)
        default: return .failure
        }
    }

    /// The outcome of an HTTP status: 2xx and 3xx success; 408, 429 and 5xx failure; any other 4xx ignored.
    public static func httpOutcome(status: Int) -> Outcome {
        switch status {
        case 408, 429, 500...: .failure
        case 400..<500: .ignored
        default: .success
        }
    }

    /// The outcome of a thrown error; any error thrown once the task is cancelled is ``Outcome/cancelled``.
    public func outcome(of error: any Error) -> Outcome {
        if Task.isCancelled { return .cancelled }
        return classify(error)
    }

    /// The delay the error asks for, capped at ``maxRetryAfter``.
    public func retryAfter(of error: any Error) -> Duration? {
        let asked: Duration?
        switch error {
        case let limited as RateLimitedError: asked = limited.retryAfter
        case let http as any HTTPStatusError: asked = http.retryAfter
        case let other as any RetryAfterProviding: asked = other.retryAfter
        default: asked = nil
        }
        guard let asked else { return nil }
        return min(max(.zero, asked), maxRetryAfter)
    }
}

extension HTTPError {
    /// Parses a `Retry-After` header: delay-seconds (`"120"`) or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`,
    /// and the obsolete RFC 850 and asctime forms), relative to `now`. A date in the past is zero; anything else
    /// is `nil`.
    public static func retryAfter(header: String?, now: Date) -> Duration? {
        guard let header else { return nil }
        let text = String(header.trimmingWhitespace())
        if let seconds = Int64(text) { return seconds >= 0 ? .seconds(seconds) : nil }
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) {
                let seconds = date.timeIntervalSince(now)
                return seconds > 0 ? .milliseconds(Int64(seconds * 1_000)) : .zero
            }
        }
        return nil
    }
}
