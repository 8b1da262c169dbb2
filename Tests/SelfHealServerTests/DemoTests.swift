import Foundation
import Testing

/// `selfheal demo` as a newcomer runs it: the real binary, its own daemon, the reports at the end.
@Suite(.serialized)
struct DemoTests {
    @Test func theTourRunsEndToEndAndCanBeRunAgain() throws {
        let directory = try TemporaryDirectory()
        let demo = directory.path + "/demo"
        for _ in 0..<2 {
            let result = try SelfHealBinary.run(["demo", "--dir", demo])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("accepted 3523, duplicates 0, rejected 0"))
            #expect(result.stdout.contains("success rate   98.5 %"))
            #expect(result.stdout.contains("System Health: ❌ Action required"))
            for name in ["selfheal-daily-2025-11-25", "selfheal-weekly-2025-W47"] {
                for ext in ["eml", "html", "txt", "json", "png"] {
                    #expect(FileManager.default.fileExists(atPath: "\(demo)/reports/\(name).\(ext)"), "\(name).\(ext)")
                }
            }
            // The daemon it started is gone: the directory is free.
            #expect(!FileManager.default.fileExists(atPath: demo + "/ingest.sock"))
        }
        let weekly = try String(contentsOfFile: demo + "/reports/selfheal-weekly-2025-W47.txt", encoding: .utf8)
        #expect(weekly.contains("Connection pool warnings: Decreasing (3.6 -> 1.4 per day"))
        #expect(weekly.contains("Invalid transitions blocked: Decreasing"))
        #expect(weekly.contains("Timeouts prevented by batching: Increasing"))
    }

    @Test func itNeverReplacesADirectoryThatIsNotADemo() throws {
        let directory = try TemporaryDirectory()
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: directory.path + "/precious.txt"))
        let result = try SelfHealBinary.run(["demo", "--dir", directory.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("exists and is not a selfheal demo directory"))
        #expect(FileManager.default.fileExists(atPath: directory.path + "/precious.txt"))
    }
}
