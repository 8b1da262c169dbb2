import ArgumentParser
import SelfHealEvents

/// The `selfheal` command line.
public struct SelfHealCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "selfheal",
        abstract: "Record self-healing events, derive incidents and recovery times, and report on them.",
        discussion: """
            Services send [SELF-HEAL] events as NDJSON over a UNIX socket to 'selfheal serve', which appends \
            them to an append-only SQLite log in the data directory (--data-dir, env SELFHEAL_DATA_DIR, \
            default .selfheal).

            Examples:
              selfheal serve &
              selfheal emit --service portal --kind pool.warning --component db-pool --attr used=17 --attr max=20
              selfheal events --since -1h
            """,
        version: SelfHealVersion.current,
        subcommands: [
            ServeCommand.self, EmitCommand.self, IngestCommand.self, EventsCommand.self, RejectsCommand.self,
            IncidentsCommand.self, StatsCommand.self, ReportCommand.self, AlertsCommand.self, RebuildCommand.self,
            VerifyCommand.self, DemoCommand.self,
            CentralCommand.self,
            BackupCommand.self,
            StatusCommand.self,
        ]
    )

    public init() {}

    /// Parses the process's arguments and runs the command, exiting with its status.
    public static func runFromCommandLine() async {
        await main()
    }
}
