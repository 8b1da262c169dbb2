import ArgumentParser
import Foundation
import SelfHealEvents
import SelfHealFleet
import SelfHealServer
import SelfHealStore
import SelfHealing

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show whether the daemon runs, the log's last seq, and how far forwarding is behind.",
        discussion: """
            The daemon is up while it holds DATA_DIR/daemon.lock (its pid is in that file), and answers when \
            it replies to a ping on its socket within 2 s (a daemon that holds the lock but does not answer is \
            shown so, with the reason). Exits 0 when the daemon answers, 3 when it does not (down, or up but \
            not answering), after printing the status either way. With --forward, the \
            daemon keeps DATA_DIR/forward.json: the central store (its URL without password), whether it \
            answered last time, and the last seq stored there; the lag is the local events not yet stored \
            centrally and the age of the oldest of them.

            Examples:
              selfheal status
              selfheal status --data-dir /var/lib/selfheal --format json
            """
    )

    @OptionGroup var location: LocationOptions

    @Option(help: "table or json: how the status is printed.") var format: OutputFormat = .table

    func run() async throws {
        try await reportingErrors {
            let status = try DaemonStatus(location: location, now: currentMillis())
            print(format == .json ? status.json : status.text, terminator: "")
            // As LSB init scripts and systemctl say it: 3, the program is not running (or not answering).
            if status.answer == nil { throw ExitCode(3) }
        }
    }
}

/// What `selfheal status` shows.
struct DaemonStatus {
    var up: Bool
    var pid: Int32?
    /// The socket the daemon was asked on.
    var socketPath: String
    /// The daemon's version, when it answered a ping on the socket.
    var answer: String?
    /// Why it did not answer, when it is up but did not.
    var notAnswering: String?
    var lastSeq: Int64
    /// The store's quiet period, milliseconds.
    var quietPeriod: Int64
    var forward: ForwarderState?
    var lag: ForwardLag?

    init(location: LocationOptions, now: Int64) throws {
        let directory = location.dataDirectory
        up = DataDirectoryLock.isHeld(dataDirectory: directory)
        let lockFile = (directory as NSString).appendingPathComponent("daemon.lock")
        pid = up ? (try? String(contentsOfFile: lockFile, encoding: .utf8)).flatMap { Int32($0.trimmed) } : nil
        socketPath = location.socketPath
        if up {
            do {
                answer = try IngestClient(socketPath: socketPath, timeout: Self.pingTimeout).ping()
            } catch {
                notAnswering = error.message
            }
        }
        guard FileManager.default.fileExists(atPath: location.databasePath) else {
            throw CLIError("no event store at \(location.databasePath): start the daemon with 'selfheal serve' first")
        }
        let store = try EventStore(StoreConfiguration(path: location.databasePath, readOnly: true))
        lastSeq = try store.lastSeq()
        quietPeriod = try store.quietPeriod()
        forward = try ForwarderState.read(path: ForwarderState.path(dataDirectory: directory))
        lag = try forward.map { state throws(StoreError) in
            try ForwardLag(store: store, forwardedSeq: state.forwardedSeq, now: now)
        }
    }

    /// How long a ping may take.
    static let pingTimeout = 2.0

    /// The daemon's line: down, up and answering, or up but not answering (and why).
    var daemonLine: String {
        guard up else { return "daemon: down" }
        let process = "up" + (pid.map { " (pid \($0))" } ?? "")
        if let answer { return "daemon: \(process), answers on \(socketPath) (selfheal \(answer))" }
        return "daemon: \(process) but does not answer on \(socketPath): \(notAnswering ?? "no reply")"
    }

    var text: String {
        var lines = [
            daemonLine, "last seq: \(lastSeq)",
            "quiet period: \(Timestamp.formatDuration(quietPeriod))",
        ]
        if let forward, let lag {
            let state = forward.up ? "up" : "unreachable" + (forward.error.map { " (\($0))" } ?? "")
            lines.append("central store: \(forward.store) as host \(forward.hostID), \(state)")
            lines.append("forwarded seq: \(forward.forwardedSeq)")
            lines.append("forward lag: \(lag.events) events, \(String(format: "%.3f", lag.seconds)) s")
        } else {
            lines.append("central store: none (serve --forward postgresql://... to forward)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    var json: String {
        var object: [String: Any] = [
            "daemon": [
                "up": up, "pid": pid.map { $0 as Any } ?? NSNull(), "socket": socketPath, "answers": answer != nil,
                "version": answer.map { $0 as Any } ?? NSNull(), "error": notAnswering.map { $0 as Any } ?? NSNull(),
            ],
            "last_seq": lastSeq,
            "quiet_period_ms": quietPeriod,
        ]
        if let forward, let lag {
            object["forward"] = [
                "store": forward.store, "host_id": forward.hostID, "up": forward.up,
                "error": forward.error.map { $0 as Any } ?? NSNull(), "forwarded_seq": forward.forwardedSeq,
                "lag_events": lag.events, "lag_seconds": lag.seconds,
            ]
        } else {
            object["forward"] = NSNull()
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

extension String {
    fileprivate var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
