import Foundation
import Logging
import SelfHealEvents
import Synchronization
import Testing

@testable import SelfHealing

/// A log handler that keeps what it is given.
struct CapturingLogHandler: LogHandler {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    let entries: Box<[Entry]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        entries.withLock {
            $0.append(Entry(level: event.level, message: event.message.description, metadata: event.metadata ?? [:]))
        }
    }
}

@Suite struct SinkTests {
    @Test func reporterBuildsValidWireLines() throws {
        let sink = RecordingEventSink()
        let reporter = EventReporter(sink: sink, service: "portal", component: "db-pool")
        reporter.emit(.poolCritical, "CRITICAL: \"pool\" at 92%\n") {
            $0.set("used", 92)
            $0.set("max", 100)
            $0.set("ratio", 0.92)
            $0.set("note", "quotes \" and \\ backslashes")
            $0.set("transient", true)
        }
        let event = try #require(sink.events.first)
        #expect(event.timestamp != nil)
        guard case .event(let decoded) = try WireDecoder.decode(event.wireLine) else {
            Issue.record("not an event")
            return
        }
        #expect(decoded.service == "portal")
        #expect(decoded.component == "db-pool")
        #expect(decoded.kind == .poolCritical)
        #expect(decoded.message == "CRITICAL: \"pool\" at 92%\n")
        #expect(attributes(decoded)["used"] as? Int == 92)
        #expect(attributes(decoded)["note"] as? String == "quotes \" and \\ backslashes")
    }

    @Test func disabledSinksCostNothing() {
        let reporter = EventReporter(sink: NoopEventSink(), service: "portal")
        #expect(!reporter.isEnabled)
        let built = Box(false)
        reporter.emit(.retryAttempt, "x") { _ in built.withLock { $0 = true } }
        #expect(!built.value)
        #expect(!FanOutEventSink([NoopEventSink()]).isEnabled)
    }

    @Test func fanOutReachesEverySink() {
        let first = RecordingEventSink()
        let second = RecordingEventSink()
        let reporter = EventReporter(sink: FanOutEventSink([first, NoopEventSink(), second]), service: "s")
        reporter.emit(.breakerClosed, "closed")
        #expect(first.kinds == ["breaker.closed"] && second.kinds == ["breaker.closed"])
    }

    @Test func logSinkWritesSelfHealLines() throws {
        let entries = Box<[CapturingLogHandler.Entry]>([])
        let logger = Logger(label: "test") { _ in CapturingLogHandler(entries: entries) }
        let reporter = EventReporter(
            sink: LogEventSink(logger: logger, format: .readable),
            service: "portal",
            component: "db-pool"
        )
        reporter.emit(.poolWarning, "db-pool at 85% (85/100)") {
            $0.set("used", 85)
            $0.set("max", 100)
        }
        reporter.emit(.retryExhausted, "Gave up after 3 attempts")
        let logged = entries.value
        #expect(logged.count == 2)
        #expect(logged[0].message == "[SELF-HEAL] pool.warning portal/db-pool: db-pool at 85% (85/100)")
        #expect(logged[0].level == .warning)
        #expect(logged[0].metadata["attrs"] == #"{"used":85,"max":100}"#)
        #expect(logged[0].metadata["kind"] == "pool.warning")
        #expect(logged[1].level == .critical)
    }
}
