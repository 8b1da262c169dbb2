import ArgumentParser
import Foundation
import SelfHealEvents
import Testing

@testable import SelfHealCLI

/// Splits an example command line like a shell would for the simple quoting the help texts use.
func shellWords(_ line: String) -> [String] {
    var words: [String] = []
    var current = ""
    var quote: Character?
    var inWord = false
    for character in line {
        if let open = quote {
            if character == open { quote = nil } else { current.append(character) }
        } else if character == "\"" || character == "'" {
            quote = character
            inWord = true
        } else if character == " " {
            if inWord { words.append(current) }
            current = ""
            inWord = false
        } else {
            current.append(character)
            inWord = true
        }
    }
    if inWord { words.append(current) }
    return words
}

@Suite struct CommandLineTests {
    static let discussions: [(String, String)] = [
        ("selfheal", SelfHealCommand.configuration.discussion),
        ("serve", ServeCommand.configuration.discussion),
        ("emit", EmitCommand.configuration.discussion),
        ("ingest", IngestCommand.configuration.discussion),
        ("events", EventsCommand.configuration.discussion),
        ("rejects", RejectsCommand.configuration.discussion),
        ("incidents", IncidentsCommand.configuration.discussion),
        ("stats", StatsCommand.configuration.discussion),
        ("rebuild", RebuildCommand.configuration.discussion),
        ("verify", VerifyCommand.configuration.discussion),
        ("report", ReportCommand.configuration.discussion),
        ("report daily", DailyReportCommand.configuration.discussion),
        ("report weekly", WeeklyReportCommand.configuration.discussion),
        ("alerts", AlertsCommand.configuration.discussion),
        ("demo", DemoCommand.configuration.discussion),
    ]

    @Test(arguments: discussions)
    func everyHelpExampleParses(command: String, discussion: String) throws {
        let examples = discussion.split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.hasPrefix("selfheal ") }
            .map { $0.hasSuffix(" &") ? String($0.dropLast(2)) : $0 }
        #expect(!examples.isEmpty, "\(command) has no examples")
        for example in examples where !example.contains("|") {
            // Drop a shell redirection: it is not the command's.
            let words = shellWords(example)
            let arguments = Array(words.prefix { $0 != ">" && $0 != "<" }.dropFirst())
            #expect(throws: Never.self, "\(example)") { _ = try SelfHealCommand.parseAsRoot(arguments) }
        }
    }

    @Test func relativeTimesParseAsSeparateWords() throws {
        let command = try SelfHealCommand.parseAsRoot(["events", "--since", "-2h", "--until", "now"])
        let events = try #require(command as? EventsCommand)
        #expect(events.range.since == "-2h")
        let range = try events.range.range(now: 10_000_000)
        #expect(range.since == 10_000_000 - 7_200_000)
        #expect(range.until == 10_000_000)
    }

    @Test func badUsageIsRejectedByTheParser() {
        #expect(throws: (any Error).self) { _ = try SelfHealCommand.parseAsRoot(["events", "--format", "xml"]) }
        #expect(throws: (any Error).self) { _ = try SelfHealCommand.parseAsRoot(["serve", "--durability", "maybe"]) }
        #expect(throws: (any Error).self) { _ = try SelfHealCommand.parseAsRoot(["serve", "--socket-mode", "999"]) }
        #expect(throws: (any Error).self) { _ = try SelfHealCommand.parseAsRoot(["emit", "--service", "s"]) }
        let store = ["central", "--store", "postgresql://selfheal@localhost/fleet"]
        #expect(throws: (any Error).self) { _ = try SelfHealCommand.parseAsRoot(store + ["--working-set", "5"]) }
        #expect(throws: Never.self) { _ = try SelfHealCommand.parseAsRoot(store + ["--working-set", "2000000"]) }
    }

    @Test func timeExpressions() throws {
        let paris = try #require(TimeZone(identifier: "Europe/Paris"))
        let now: Int64 = 1_764_063_620_200
        let parser = TimeExpression(zone: paris, now: now)
        #expect(try parser.parse("now") == now)
        #expect(try parser.parse("-30m") == now - 1_800_000)
        #expect(try parser.parse("-7d") == now - 604_800_000)
        #expect(try parser.parse("-2w") == now - 1_209_600_000)
        #expect(try parser.parse("-45s") == now - 45_000)
        #expect(try parser.parse("2025-11-25") == 1_764_025_200_000)  // midnight in Paris = 23:00 UTC the day before
        #expect(try parser.parse("2025-07-01") == 1_751_320_800_000)  // summer time: 22:00 UTC
        #expect(try parser.parse("2025-11-25T09:40:20.200Z") == now)
        #expect(throws: CLIError.self) { try parser.parse("yesterday") }
        #expect(throws: CLIError.self) { try parser.parse("2025-02-30") }
        #expect(throws: CLIError.self) { try parser.parse("-5y") }
        do {
            _ = try parser.parse("soon")
        } catch {
            #expect(error.message.hasPrefix(#"invalid time "soon": use RFC 3339"#))
        }
    }

    @Test func emitAttributesKeepJSONValuesAndQuoteTheRest() throws {
        let json = try EmitCommand.attributesJSON(["used=17", "ok=true", "list=[1,2]", "name=db pool", "q=\"x\""])
        #expect(json == #"{"used":17,"ok":true,"list":[1,2],"name":"db pool","q":"\"x\""}"#)
        #expect(throws: CLIError.self) { try EmitCommand.attributesJSON(["novalue"]) }
        #expect(throws: CLIError.self) { try EmitCommand.attributesJSON(["a=1", "a=2"]) }
    }

    @Test func emitBuildsAWireLineTheDecoderAccepts() throws {
        let command = try #require(
            try SelfHealCommand.parseAsRoot([
                "emit", "--service", "portal", "--kind", "pool.warning", "--component", "db-pool", "--ts",
                "2025-11-25T09:40:20.200Z", "--attr", "used=17", "--message", "pool at 85%",
            ]) as? EmitCommand
        )
        let line = try command.wireLine()
        guard case .event(let event) = try WireDecoder.decode(line) else {
            Issue.record("not an event")
            return
        }
        #expect(event.service == "portal")
        #expect(event.timestamp == 1_764_063_620_200)
        #expect(event.attributesJSON == #"{"used":17}"#)
    }

    @Test func tablesAlignColumns() {
        var table = Table("SEQ", "KIND", "MESSAGE")
        table.add(["1", "pool.warning", "pool at 85%"])
        table.add(["12", "x", ""])
        #expect(
            table.render() == ["SEQ  KIND          MESSAGE", "1    pool.warning  pool at 85%", "12   x             "]
        )
        #expect(LocalTime(zone: TimeZone(identifier: "UTC")!).format(1_764_063_620_200) == "2025-11-25 09:40:20.200")
    }
}

/// The help texts as argument-parser prints them: prose rewrapped cleanly at any width, each default said once.
@Suite struct HelpTextTests {
    static let commands: [(String, any ParsableCommand.Type)] = [
        ("selfheal", SelfHealCommand.self), ("serve", ServeCommand.self), ("emit", EmitCommand.self),
        ("ingest", IngestCommand.self), ("events", EventsCommand.self), ("rejects", RejectsCommand.self),
        ("incidents", IncidentsCommand.self), ("stats", StatsCommand.self), ("rebuild", RebuildCommand.self),
        ("verify", VerifyCommand.self), ("report daily", DailyReportCommand.self),
        ("report weekly", WeeklyReportCommand.self), ("alerts", AlertsCommand.self), ("demo", DemoCommand.self),
    ]

    /// A paragraph of prose is one line in the source, so that argument-parser's own wrapping is the only one:
    /// a hard line break inside it would leave a short line wherever the terminal is narrower than the source.
    @Test(arguments: CommandLineTests.discussions)
    func proseParagraphsHaveNoHardLineBreaks(command: String, discussion: String) {
        for paragraph in discussion.components(separatedBy: "\n\n") {
            let lines = paragraph.split(separator: "\n")
            guard let first = lines.first, !first.hasPrefix("Examples:") else { continue }
            #expect(lines.count == 1, "\(command): \(first.prefix(60))...")
        }
    }

    @Test(arguments: commands)
    func everyDefaultIsSaidOnce(command: String, type: any ParsableCommand.Type) {
        for columns in [80, 200] {
            let help = SelfHealCommand.helpMessage(for: type, columns: columns)
            let options = help.components(separatedBy: "OPTIONS:").last ?? ""
            let text = options.replacingOccurrences(of: "\n", with: " ")
            for line in text.components(separatedBy: "  --") {
                let mentions = line.components(separatedBy: "(default").count - 1
                #expect(mentions <= 1, "\(command): \(line.prefix(120))")
            }
        }
    }

    @Test func readsTakeAsOf() throws {
        for command in ["events", "rejects", "incidents", "stats", "alerts"] {
            #expect(throws: Never.self) { _ = try SelfHealCommand.parseAsRoot([command, "--as-of", "-2h"]) }
        }
        for command in [["report", "daily"], ["report", "weekly"]] {
            #expect(throws: Never.self) { _ = try SelfHealCommand.parseAsRoot(command + ["--as-of", "2025-11-26"]) }
        }
        let stats = try #require(try SelfHealCommand.parseAsRoot(["stats", "--as-of", "-1h"]) as? StatsCommand)
        #expect(try stats.range.range(now: 10_000_000).asOf == 10_000_000 - 3_600_000)
    }

    @Test func quietPeriodsAreDurationsWithinBounds() throws {
        #expect(try parseQuietPeriod("4h") == 14_400_000)
        #expect(try parseQuietPeriod("1h30m") == 5_400_000)
        #expect(try parseQuietPeriod("30d") == 2_592_000_000)
        for bad in ["59s", "31d", "4 hours", "", "h", "-4h", "99999999999999999999d"] {
            #expect(throws: ValidationError.self, "\(bad)") { _ = try parseQuietPeriod(bad) }
        }
        #expect(throws: (any Error).self) { _ = try SelfHealCommand.parseAsRoot(["serve", "--quiet-period", "1s"]) }
        #expect(throws: (any Error).self) { _ = try SelfHealCommand.parseAsRoot(["rebuild", "--quiet-period", "x"]) }
    }
}
