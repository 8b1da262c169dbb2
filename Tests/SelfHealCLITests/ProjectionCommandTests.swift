import ArgumentParser
import Foundation
import Testing

@testable import SelfHealCLI

/// The help text of the projection commands: durations read as the SPEC shows them.
@Suite struct ProjectionCommandTests {
    @Test(arguments: [
        (Int64(0), "0 ms"), (800, "800 ms"), (999, "999 ms"), (1_000, "1 s"), (4_200, "4.2 s"), (59_940, "59.9 s"),
        (59_960, "1 min"), (180_000, "3 min"), (200_000, "3.3 min"), (5_400_000, "1.5 h"), (259_200_000, "3 d"),
    ])
    func durationsReadAsTheSpecShowsThem(milliseconds: Int64, text: String) {
        #expect(readableDuration(milliseconds) == text)
    }

    @Test func badOptionsAreUsageErrors() {
        #expect(throws: (any Error).self) { _ = try SelfHealCommand.parseAsRoot(["incidents", "--state", "closed"]) }
        #expect(throws: (any Error).self) { _ = try SelfHealCommand.parseAsRoot(["incidents", "--min-level", "high"]) }
    }
}
