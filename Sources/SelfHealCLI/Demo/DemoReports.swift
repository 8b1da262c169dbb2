extension DemoCommand {
    /// Writes the daily report of 2025-11-25 and the weekly report of its previous whole week.
    func writeReports(directory: String, common: [String]) async throws {
        say("\n4. Reports: coming with the reports issue.")
    }
}
