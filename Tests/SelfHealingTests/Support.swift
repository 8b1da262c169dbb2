import Foundation
import SelfHealEvents
import Synchronization

@testable import SelfHealing

/// An error that is always retryable.
struct TransientError: Error, Equatable, CustomStringConvertible {
    var description: String { "Too many database connections opened: FATAL: sorry, too many clients already" }
}

/// Counts calls and fails the first `failures` of them.
final class FlakyDependency: Sendable {
    private let calls = Mutex(0)
    let failures: Int
    let error: any Error & Sendable

    init(failures: Int, error: any Error & Sendable = TransientError()) {
        self.failures = failures
        self.error = error
    }

    var callCount: Int { calls.withLock { $0 } }

    func call() throws -> String {
        let number = calls.withLock { calls in
            calls += 1
            return calls
        }
        if number <= failures { throw error }
        return "fresh #\(number)"
    }
}

/// The attrs of an event as a dictionary.
func attributes(_ event: Event) -> [String: Any] {
    guard let json = event.attributesJSON, let data = json.data(using: .utf8),
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { return [:] }
    return object
}

/// A reporter into a fresh recording sink.
func recordingReporter(_ component: String = "dependency") -> (EventReporter, RecordingEventSink) {
    let sink = RecordingEventSink()
    return (EventReporter(sink: sink, service: "portal", component: component), sink)
}

/// A temporary directory, removed by the caller.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("selfheal-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A value behind a lock that escaping closures can share.
final class Box<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<R: Sendable>(_ body: (inout sending Value) -> sending R) -> R { mutex.withLock(body) }

    var value: Value { mutex.withLock { $0 } }
}
