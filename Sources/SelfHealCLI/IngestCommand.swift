import ArgumentParser
import Foundation
import SelfHealEvents
import SelfHealing

struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Send NDJSON events from files or stdin to the daemon, then wait until they are committed.",
        discussion: """
            Prints how many lines were accepted, were duplicates, or were rejected, and each rejected line as \
            FILE:LINE: error. Exits 1 if any line was rejected (the others are stored all the same).

            With --log-lines the input is any log: the lines holding "[SELF-HEAL] " followed by a JSON object (what \
            the SelfHealing library's LogEventSink writes) are sent, the rest ignored. A marked line whose JSON \
            cannot be read is reported as FILE:LINE: error, and makes the exit status 1, like a rejected one.

            Examples:
              selfheal ingest events.ndjson
              cat day1.ndjson day2.ndjson | selfheal ingest
              selfheal ingest --format json logs/*.ndjson
              journalctl -u portal -o cat | selfheal ingest --log-lines -
              selfheal ingest --log-lines /var/log/portal/stdout.log
            """
    )

    @OptionGroup var location: LocationOptions

    @Option(help: "table or json: how the result is printed.") var format: OutputFormat = .table

    @Flag(help: "The input is any log: ingest the lines holding \"[SELF-HEAL] {json}\", ignore the rest.")
    var logLines = false

    @Argument(help: "NDJSON files (or logs with --log-lines); none or - reads stdin.") var files: [String] = []

    /// A file's place in the connection's line numbering.
    struct Source {
        var name: String
        var firstLine: Int
        var lineCount: Int
    }

    func run() async throws {
        if logLines {
            try await reportingErrors { try ingestLogLines() }
            return
        }
        try await reportingErrors {
            let client = try EmitCommand.connect(location.socketPath)
            var sources: [Source] = []
            var failures: [SyncReply.LineFailure] = []
            var sentLines = 0
            var linesSinceSync = 0
            var last: SyncReply?
            var syncLines: [Int] = []
            for name in files.isEmpty ? ["-"] : files {
                guard let handle = name == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: name) else {
                    throw CLIError("cannot read \(name)")
                }
                let firstLine = sentLines + 1
                var endsWithNewline = true
                var sawBytes = false
                while true {
                    let chunk: Data
                    do {
                        guard let data = try handle.read(upToCount: 1 << 16), !data.isEmpty else { break }
                        chunk = data
                    } catch {
                        throw CLIError("cannot read \(name): \(error.localizedDescription)")
                    }
                    sawBytes = true
                    let newlines = chunk.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
                    sentLines += newlines
                    linesSinceSync += newlines
                    endsWithNewline = chunk.last == 0x0A
                    try client.sendBytes(Array(chunk))
                    // Sync now and then: it bounds the error list the daemon keeps and shows progress.
                    // Only between whole lines, so the sync never joins a partial line.
                    if linesSinceSync >= 50_000 && endsWithNewline {
                        let reply = try client.syncReply()
                        sentLines += 1
                        syncLines.append(sentLines)
                        failures += reply.errors
                        last = reply
                        linesSinceSync = 0
                    }
                }
                if sawBytes && !endsWithNewline {
                    try client.sendBytes([0x0A])
                    sentLines += 1
                }
                let lineCount = sentLines - firstLine + 1
                sources.append(Source(name: name == "-" ? "stdin" : name, firstLine: firstLine, lineCount: lineCount))
            }
            let reply = try client.syncReply()
            failures += reply.errors
            last = reply
            guard let last, last.ok else {
                throw CLIError("the daemon could not commit: \(last?.error ?? "unknown error")")
            }
            report(last, failures: failures, sources: sources, syncLines: syncLines)
            if last.rejected > 0 { throw ExitCode.failure }
        }
    }

    func report(
        _ reply: SyncReply,
        failures: [SyncReply.LineFailure],
        sources: [Source],
        syncLines: [Int]
    ) {
        func place(_ line: Int) -> String {
            // Syncs sent between chunks take a line number each on the connection, not in the file.
            for source in sources where line >= source.firstLine && line < source.firstLine + source.lineCount {
                let syncsBefore = syncLines.filter { $0 >= source.firstLine && $0 < line }.count
                return "\(source.name):\(line - source.firstLine + 1 - syncsBefore)"
            }
            return "line \(line)"
        }
        switch format {
        case .json, .ndjson:
            var json = JSONText()
            json.number("accepted", reply.accepted)
            json.number("duplicates", reply.duplicates)
            json.number("rejected", reply.rejected)
            json.number("last_seq", reply.lastSeq)
            let errors = failures.map { failure in
                var error = JSONText()
                error.string("at", place(failure.line))
                error.number("line", failure.line)
                error.string("error", failure.error)
                return error.finish()
            }
            json.raw("errors", JSONText.array(errors))
            print(json.finish())
        case .table:
            print("accepted \(reply.accepted), duplicates \(reply.duplicates), rejected \(reply.rejected)")
            for failure in failures {
                FileHandle.standardError.write(Data("\(place(failure.line)): \(failure.error)\n".utf8))
            }
            if reply.rejected > failures.count {
                let more = reply.rejected - failures.count
                FileHandle.standardError.write(Data("(\(more) more rejected lines: see 'selfheal rejects')\n".utf8))
            }
        }
    }
}

extension IngestClient {
    /// Sends raw bytes, turning client errors into command-line errors.
    func sendBytes(_ bytes: [UInt8]) throws(CLIError) {
        do { try send(bytes: bytes) } catch { throw CLIError(error.message) }
    }
}
