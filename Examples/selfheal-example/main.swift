// Replays the stories of the scenario analysis with the real SelfHealing primitives.
//
//   swift run selfheal-example                          # events as [SELF-HEAL] log lines
//   swift run selfheal-example --socket .selfheal/ingest.sock [--spill FILE] [--service NAME]
//
// With --socket the events go to a running `selfheal serve`; then `selfheal incidents --since -1h` shows them.
// SELF_HEALING_* variables switch primitives off (see FeatureFlags).
import Foundation
import Logging
import SelfHealEvents
import SelfHealing

func option(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

if CommandLine.arguments.contains("--help") || CommandLine.arguments.contains("-h") {
    print("usage: selfheal-example [--socket PATH] [--spill FILE] [--service NAME]")
    exit(0)
}

let service = option("--service") ?? "text-club-portal"
let flags = FeatureFlags.fromEnvironment()
var emitter: SocketEventEmitter?
let sink: any EventSink
if let socket = option("--socket") {
    let spill =
        option("--spill")
        ?? FileManager.default.temporaryDirectory
        .appendingPathComponent("selfheal-example-spill.ndjson").path
    let socketEmitter = SocketEventEmitter(
        configuration: SocketEmitterConfiguration(
            socketPath: socket,
            spillPath: spill
        )
    )
    socketEmitter.start()
    emitter = socketEmitter
    sink = flags.applied(to: socketEmitter)
    print("sending events to \(socket) (spill file \(spill))")
} else {
    LoggingSystem.bootstrap { _ in ConsoleLogHandler() }
    sink = flags.applied(to: LogEventSink(logger: Logger(label: "selfheal-example")))
}

try await spamCaptureStory(sink: sink, service: service, flags: flags)
try await assistanceStory(sink: sink, service: service, flags: flags)

if let emitter {
    let delivered = emitter.waitUntilDelivered(timeout: .seconds(10))
    emitter.shutdown(timeout: .seconds(5))
    let statistics = emitter.currentStatistics
    print(
        "\nemitted \(statistics.emitted) events; the daemon stored \(statistics.accepted) (\(statistics.replayed)"
            + " replayed from the spill file), \(statistics.duplicates) duplicates, \(statistics.rejected) rejected;"
            + " \(statistics.spilled) spilled, \(statistics.dropped) dropped"
    )
    if let rejection = statistics.lastRejection { print("last rejection: \(rejection)") }
    if !delivered { print("the daemon did not confirm every event: they wait in the spill file for the next run") }
}
