import ArgumentParser
import Foundation
import SelfHealEvents
import SelfHealServer
import SelfHealing

#if canImport(Glibc)
import Glibc
#endif

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "A newcomer's tour: a daemon, sixteen realistic days of events, the incidents, the reports.",
        discussion: """
            Starts 'selfheal serve' on a data directory of its own, sends sixteen days of a web portal's \
            self-healing events over the real UNIX socket (ending with 2025-11-25, the day of the users' scenario \
            analysis), then prints that day's incidents and figures and writes the daily and weekly reports. \
            Everything stays in the demo directory; run the printed commands to explore it further. With \
            --dashboard the daemon keeps serving the demo's store over HTTP (--http, default 127.0.0.1:8470) and \
            the dashboard's URL is printed; Ctrl-C stops it.

            Examples:
              selfheal demo
              selfheal demo --dir /tmp/selfheal-demo
              selfheal demo --dashboard
              selfheal demo --dashboard --http 127.0.0.1:9000
            """
    )

    @Option(help: "The demo's data directory; replaced if it holds an earlier demo.")
    var dir: String = "selfheal-demo"

    @Flag(help: "End the tour with the daemon still serving the dashboard over HTTP, until Ctrl-C.")
    var dashboard = false

    @Option(help: "With --dashboard: where the daemon serves HTTP (loopback; port 0 lets the system choose).")
    var http: String = "127.0.0.1:8470"

    static let markerFile = ".selfheal-demo"
    /// The demo's reads are as of the end of its last day.
    static let asOf = "2025-11-26T00:00:00Z"

    func run() async throws {
        try await reportingErrors {
            let clock = ContinuousClock()
            let started = clock.now
            let directory = try prepareDirectory()
            let socketPath = Self.socketPath(for: directory)
            say("selfheal demo: data directory \(directory)")
            let daemon = try startDaemon(
                directory: directory,
                socketPath: socketPath,
                http: dashboard ? ["--http", http] : []
            )
            defer { Self.stop(daemon) }

            let lines = DemoScenario.lines()
            say("\n1. Sending \(lines.count) events (2025-11-10 to 2025-11-25) over \(socketPath) ...")
            let reply = try send(lines, socketPath: socketPath)
            say(
                "   accepted \(reply.accepted), duplicates \(reply.duplicates), rejected \(reply.rejected); last seq \(reply.lastSeq)"
            )

            // Read as of the end of the day, as a person reading them that midnight would.
            let common = ["--data-dir", directory, "--tz", "UTC", "--as-of", Self.asOf]
            let day = ["--since", "2025-11-25", "--until", "2025-11-26"]
            say(
                "\n2. Failed, open and quiet incidents of 2025-11-25, as of midnight (all of them: selfheal incidents \((day + common).joined(separator: " "))):\n"
            )
            try await IncidentsCommand.parse(["--state", "failed"] + day + common).run()
            try await IncidentsCommand.parse(["--state", "open"] + day + common).run()
            say("\n   Went quiet without a recovery signal (nothing heard for the quiet period, 4 h):\n")
            try await IncidentsCommand.parse(["--state", "expired"] + day + common).run()
            say(
                "\n   09:40, the dashboard that exhausted the connection pool, and the API that answered HTML meanwhile:\n"
            )
            let minute = ["--since", "2025-11-25T09:40:00Z", "--until", "2025-11-25T09:41:00Z"]
            try await IncidentsCommand.parse(minute + common).run()
            say("\n3. The figures of 2025-11-25 (selfheal stats):\n")
            try await StatsCommand.parse(day + common).run()
            try await writeReports(directory: directory, common: common)
            if !dashboard { Self.stop(daemon) }
            let elapsed = clock.now - started
            say(
                "\nDone in \(elapsed.components.seconds).\(String(format: "%02d", elapsed.components.attoseconds / 10_000_000_000_000_000)) s. Explore:"
            )
            say("  selfheal events --data-dir \(directory) --since 2025-11-25T09:40:00Z --until 2025-11-25T09:41:00Z")
            say(
                "  selfheal incidents --data-dir \(directory) --since 2025-11-17 --until 2025-11-26 --tz UTC --as-of \(Self.asOf)"
            )
            say(
                "  selfheal stats --data-dir \(directory) --since 2025-11-17 --until 2025-11-24 --format json --as-of \(Self.asOf)"
            )
            if dashboard { try serveDashboard(daemon, directory: directory) }
        }
    }

    /// Creates the demo directory, replacing an earlier demo's, never anything else.
    func prepareDirectory() throws(CLIError) -> String {
        let path = URL(fileURLWithPath: dir).standardizedFileURL.path
        let manager = FileManager.default
        if manager.fileExists(atPath: path) {
            guard manager.fileExists(atPath: path + "/" + Self.markerFile) else {
                throw CLIError("\(path) exists and is not a selfheal demo directory: choose another with --dir")
            }
            if DataDirectoryLock.isHeld(dataDirectory: path) {
                throw CLIError("a daemon still serves \(path): stop it, or choose another --dir")
            }
            do { try manager.removeItem(atPath: path) } catch {
                throw CLIError("cannot replace \(path): \(error.localizedDescription)")
            }
        }
        do {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
            try Data("selfheal demo data; safe to delete\n".utf8).write(
                to: URL(fileURLWithPath: path + "/" + Self.markerFile)
            )
        } catch {
            throw CLIError("cannot create \(path): \(error.localizedDescription)")
        }
        return path
    }

    /// `DIR/ingest.sock`, or a path under the temporary directory when that is longer than a socket path may be.
    static func socketPath(for directory: String) -> String {
        let preferred = directory + "/ingest.sock"
        if preferred.utf8.count < 100 { return preferred }
        return NSTemporaryDirectory() + "selfheal-demo-\(getpid()).sock"
    }

    /// Starts this same executable as `selfheal serve` and waits until it answers.
    func startDaemon(directory: String, socketPath: String, http: [String] = []) throws(CLIError) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments =
            ["serve", "--data-dir", directory, "--socket", socketPath, "--log-level", "warning"] + http
        let log = directory + "/daemon.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { throw CLIError("cannot start the daemon: \(error.localizedDescription)") }
        // Poll for the socket for up to 10 s: the daemon is a separate process with nothing to wait on.
        for _ in 0..<500 {
            if let client = try? IngestClient(socketPath: socketPath, timeout: 5), (try? client.ping()) != nil {
                say("   daemon started (pid \(process.processIdentifier)), logging to \(log)")
                return process
            }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        Self.stop(process)
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw CLIError("the daemon did not start: \(output.split(separator: "\n").last ?? "no output")")
    }

    static func stop(_ process: Process) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    /// Sends the lines on one connection, syncing every 1,000 lines, and returns the last reply.
    func send(_ lines: [String], socketPath: String) throws(CLIError) -> SyncReply {
        do {
            let client = try IngestClient(socketPath: socketPath)
            var reply: SyncReply?
            for (index, line) in lines.enumerated() {
                try client.send(line: line)
                if index % 1_000 == 999 { reply = try client.sync() }
            }
            reply = try client.sync()
            guard let reply, reply.ok else {
                throw CLIError("the daemon could not commit: \(reply?.error ?? "no reply")")
            }
            if let failure = reply.errors.first { throw CLIError("the daemon rejected a demo line: \(failure.error)") }
            return reply
        } catch let error as CLIError {
            throw error
        } catch let error as IngestClientError {
            throw CLIError(error.message)
        } catch {
            throw CLIError("\(error)")
        }
    }
}

/// Prints a line at once, so the tour's steps show as they happen.
func say(_ line: String) {
    print(line)
    fflush(nil)
}
