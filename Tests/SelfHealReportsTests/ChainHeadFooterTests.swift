import Foundation
import SelfHealStore
import Testing

@testable import SelfHealReports

/// Every report's footer carries the head of the log's hash chain, so a mailed report pins the history it was
/// made from.
@Suite struct ChainHeadFooterTests {
    @Test func theFooterCarriesTheHeadOfTheStoreTheReportWasMadeFrom() throws {
        let directory = try TemporaryDirectory()
        let store = try StoreReportTests.makeStore(directory)
        let head = try #require(try store.chainHead())
        let period = try #require(ReportPeriod.day("2025-11-25", zone: StoreReportTests.zone))
        let input = try ReportInput.load(from: store, period: period, generatedAt: period.until + 3_600_000)
        #expect(input.chainHead == head)
        let output = try ReportRenderer.render(Report.daily(input), templates: try .builtIn(), mail: Fixtures.mail)
        #expect(output.text.contains("Log head: seq \(head.seq), sha256 \(head.hash) (compare with"))
        #expect(output.html.contains("Log head: seq \(head.seq), sha256 <span"))
        #expect(output.html.contains(">\(head.hash)</span>"))
    }

    @Test func withoutAHeadTheFooterIsAsBefore() throws {
        let output = try ReportRenderer.render(
            Report.daily(Fixtures.dayInput),
            templates: try .builtIn(),
            mail: Fixtures.mail
        )
        #expect(!output.text.contains("Log head") && !output.html.contains("Log head"))
    }
}
