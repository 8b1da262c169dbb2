import ArgumentParser
import Foundation
import Testing

@testable import SelfHealCLI

/// The help text of `report` and `alerts`: bad values are usage errors.
@Suite struct ReportCommandTests {
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
