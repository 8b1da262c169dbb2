import ArgumentParser
import Foundation
import SelfHealEvents
import SelfHealing

/// `selfheal ingest --log-lines`: the `[SELF-HEAL] {json}` lines of any log.
extension IngestCommand {
    /// Where a line sent to the daemon came from.
    struct Origin {
        var name: String
        var line: Int
    }

    /// The JSON object after the first `[SELF-HEAL] ` marker of a log line: `nil` when the line has no marker,
    /// else the object's text or why it cannot be read.
    static func markedObject(in line: Substring) -> Result<Substring, CLIError>? {
        guard let marker = line.range(of: LogEventSink.marker) else { return nil }
        let rest = line[marker.upperBound...]
        guard rest.first == "{" else {
            return .failure(
                CLIError("\(LogEventSink.marker.trimmingCharacters(in: .whitespaces)) is not followed by a JSON object")
            )
        }
        // The object ends at the brace that closes the first one, outside strings: a log format may add text after.
        var depth = 0
        var inString = false
        var escaped = false
        // Bytes, not characters: a quote followed by a combining mark is one Character but still ends a string.
        let bytes = rest.utf8
        for index in bytes.indices {
            let byte = bytes[index]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"): depth += 1
            case UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 { return .success(rest[...index]) }
            default: break
            }
        }
        return .failure(CLIError("the JSON object after [SELF-HEAL] is cut short"))
    }

    func ingestLogLines() throws {
        let client = try EmitCommand.connect(location.socketPath)
        var origins: [Origin] = []  // by line number on the connection, from 1
        var unreadable: [(Origin, String)] = []
        var ignored = 0
        var failures: [SyncReply.LineFailure] = []
        for name in files.isEmpty ? ["-"] : files {
            guard let handle = name == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: name) else {
                throw CLIError("cannot read \(name)")
            }
            let display = name == "-" ? "stdin" : name
            var number = 0
            var pending = Data()
            func take(_ bytes: Data) throws {
                number += 1
                let text = String(decoding: bytes, as: UTF8.self)
                let line = text.hasSuffix("\r") ? text.dropLast() : text[...]
                switch Self.markedObject(in: line) {
                case nil:
                    ignored += 1
                case .failure(let error)?:
                    unreadable.append((Origin(name: display, line: number), error.message))
                case .success(let object)?:
                    try client.sendBytes(Array(object.utf8) + [0x0A])
                    origins.append(Origin(name: display, line: number))
                    if origins.count % 50_000 == 0 {
                        failures += try client.syncReply().errors
                        origins.append(Origin(name: "sync", line: 0))
                    }
                }
            }
            while true {
                let chunk: Data
                do {
                    guard let data = try handle.read(upToCount: 1 << 16), !data.isEmpty else { break }
                    chunk = data
                } catch {
                    throw CLIError("cannot read \(name): \(error.localizedDescription)")
                }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 0x0A) {
                    try take(pending[pending.startIndex..<newline])
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
            if !pending.isEmpty { try take(pending) }
        }
        let reply = try client.syncReply()
        failures += reply.errors
        guard reply.ok else { throw CLIError("the daemon could not commit: \(reply.error ?? "unknown error")") }
        func place(_ line: Int) -> String {
            guard line >= 1, line <= origins.count else { return "line \(line)" }
            return "\(origins[line - 1].name):\(origins[line - 1].line)"
        }
        switch format {
        case .json, .ndjson:
            var json = JSONText()
            json.number("accepted", reply.accepted)
            json.number("duplicates", reply.duplicates)
            json.number("rejected", reply.rejected)
            json.number("unreadable", unreadable.count)
            json.number("ignored", ignored)
            json.number("last_seq", reply.lastSeq)
            let errors =
                unreadable.map { origin, message in
                    var error = JSONText()
                    error.string("at", "\(origin.name):\(origin.line)")
                    error.string("error", message)
                    return error.finish()
                }
                + failures.map { failure in
                    var error = JSONText()
                    error.string("at", place(failure.line))
                    error.string("error", failure.error)
                    return error.finish()
                }
            json.raw("errors", JSONText.array(errors))
            print(json.finish())
        case .table:
            print(
                "accepted \(reply.accepted), duplicates \(reply.duplicates), rejected \(reply.rejected), "
                    + "unreadable \(unreadable.count), ignored \(ignored) lines without [SELF-HEAL]"
            )
            for (origin, message) in unreadable {
                FileHandle.standardError.write(Data("\(origin.name):\(origin.line): \(message)\n".utf8))
            }
            for failure in failures {
                FileHandle.standardError.write(Data("\(place(failure.line)): \(failure.error)\n".utf8))
            }
        }
        if reply.rejected > 0 || !unreadable.isEmpty { throw ExitCode.failure }
    }
}
