import Foundation
import SelfHealEvents

extension TimeExpression {
    /// The epoch milliseconds a text means (the parser lives in SelfHealEvents, shared with the HTTP API).
    func parse(_ text: String) throws(CLIError) -> Int64 {
        do { return try millis(text) } catch { throw CLIError(error.message) }
    }

    /// Like ``parse(_:)``, with the option's name in front of the error: `--since: invalid time "x": ...`.
    func parse(_ text: String, option: String) throws(CLIError) -> Int64 {
        do { return try millis(text) } catch { throw CLIError("\(option): \(error.message)") }
    }
}

/// A command-line failure: one line on stderr, exit status 1.
public struct CLIError: Error, Sendable, CustomStringConvertible {
    /// The line printed.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// The zone a `--tz` option names, or the system's when it names none.
func zone(_ tz: String?) throws(CLIError) -> TimeZone {
    guard let tz else { return TimeZone.current }
    guard let zone = TimeZone(identifier: tz) else { throw CLIError("unknown time zone \"\(tz)\"") }
    return zone
}

/// Wall-clock milliseconds.
func currentMillis() -> Int64 { WallClock.nowMillis() }
