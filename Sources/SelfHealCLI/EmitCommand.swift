import ArgumentParser
import Foundation
import SelfHealEvents
import SelfHealing

struct EmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emit",
        abstract: "Send one event to the daemon and wait until it is committed.",
        discussion: """
            Exits 0 once the event is stored (or was already stored: same service and id), non-zero with the \
            daemon's error when it is rejected or when no daemon answers. \
            An --attr value that is a JSON number, true, false, null, object or array is kept as that JSON; \
            anything else is a string.

            Examples:
              selfheal emit --service portal --kind pool.warning --component db-pool --attr used=17 --attr max=20
              selfheal emit --service portal --kind breaker.opened --component openai --message "5 failures"
              selfheal emit --service portal --kind x.cache.miss --ts -5m
            """
    )

    @OptionGroup var location: LocationOptions

    @Option(help: "The emitting service (1-64 of A-Z a-z 0-9 . _ - : /).") var service: String
    @Option(help: "The event kind, e.g. pool.warning, or a custom x.<name>.") var kind: String
    @Option(help: "The resource the event is about (default \"default\").") var component: String?
    @Option(help: "info, warning, critical or failure (default: the kind's level).") var level: String?
    @Option(help: "Free text.") var message: String?
    @Option(help: "Correlation key of the incident.") var incident: String?
    @Option(help: "The service's event id; a repeat is stored once.") var id: String?
    @Option(parsing: .unconditional, help: "Event time (RFC 3339, YYYY-MM-DD, now, -5m; default: when received).")
    var ts: String?
    @Option(help: "Time zone for --ts dates (default the system zone).") var tz: String?
    @Option(name: .customLong("attr"), help: "An attribute key=value; repeat for more.") var attrs: [String] = []

    func run() async throws {
        try await reportingErrors {
            let line = try wireLine()
            let client = try Self.connect(location.socketPath)
            try client.sendLine(line)
            let reply = try client.syncReply()
            guard reply.ok else { throw CLIError("the daemon could not commit: \(reply.error ?? "unknown error")") }
            if let failure = reply.errors.first { throw CLIError("rejected: \(failure.error)") }
            if reply.duplicates > 0 {
                print("duplicate: an event with this service and id is already stored")
            } else {
                print("stored as seq \(reply.lastSeq)")
            }
        }
    }

    /// The event as a wire line, fields as given: the daemon is the one that validates.
    func wireLine() throws(CLIError) -> String {
        var json = JSONText()
        json.string("service", service)
        json.string("kind", kind)
        json.string("component", ifPresent: component)
        if let ts {
            let millis = try TimeExpression(zone: try zone(tz), now: currentMillis()).parse(ts)
            json.string("ts", Timestamp.formatRFC3339(millis))
        }
        json.string("level", ifPresent: level)
        json.string("message", ifPresent: message)
        json.string("incident", ifPresent: incident)
        json.string("id", ifPresent: id)
        if !attrs.isEmpty { json.raw("attrs", try Self.attributesJSON(attrs)) }
        return json.finish()
    }

    /// `k=v` pairs as a JSON object; a value that parses as JSON stays JSON, anything else is a string.
    static func attributesJSON(_ pairs: [String]) throws(CLIError) -> String {
        var json = JSONText()
        var seen = Set<String>()
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw CLIError("--attr must be key=value, not \"\(pair)\"")
            }
            let key = String(pair[..<equals])
            let value = String(pair[pair.index(after: equals)...])
            guard seen.insert(key).inserted else { throw CLIError("--attr \(key) is given twice") }
            if let data = value.data(using: .utf8),
                (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil,
                !value.hasPrefix("\"")
            {
                json.raw(key, value)
            } else {
                json.string(key, value)
            }
        }
        return json.finish()
    }

    static func connect(_ socketPath: String) throws(CLIError) -> IngestClient {
        do {
            return try IngestClient(socketPath: socketPath)
        } catch {
            throw CLIError(error.message)
        }
    }
}

extension IngestClient {
    /// Sends a line, turning client errors into command-line errors.
    func sendLine(_ line: String) throws(CLIError) {
        do { try send(line: line) } catch { throw CLIError(error.message) }
    }

    /// Syncs, turning client errors into command-line errors.
    func syncReply() throws(CLIError) -> SyncReply {
        do { return try sync() } catch { throw CLIError(error.message) }
    }
}
