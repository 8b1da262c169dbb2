import ArgumentParser
import Foundation
import Testing

@testable import SelfHealCLI

/// The help text of `report` and `alerts`: every example parses; bad values are usage errors.
@Suite struct ReportCommandTests {
    static let discussions: [String] = [
        ReportCommand.configuration.discussion, DailyReportCommand.configuration.discussion,
        WeeklyReportCommand.configuration.discussion, AlertsCommand.configuration.discussion,
    ]

    @Test(arguments: discussions)
    func everyExampleParses(discussion: String) throws {
        let examples = discussion.split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.hasPrefix("selfheal ") }
        #expect(!examples.isEmpty)
        for example in examples {
            let arguments = example.split(separator: " ").dropFirst().map(String.init)
            #expect(throws: Never.self, "\(example)") { _ = try SelfHealCommand.parseAsRoot(arguments) }
        }
    }

    @Test func optionsParse() throws {
        let command = try #require(
            try SelfHealCommand.parseAsRoot([
                "report", "daily", "--date", "2025-11-25", "--to", "a@example.com", "--to", "b@example.com", "--send",
                "--sendmail", "/bin/true",
            ]) as? DailyReportCommand
        )
        #expect(command.mail.to == ["a@example.com", "b@example.com"])
        #expect(command.mail.send && command.mail.sendmail == "/bin/true")
        #expect(throws: (any Error).self) { _ = try SelfHealCommand.parseAsRoot(["report", "monthly"]) }
    }
}
