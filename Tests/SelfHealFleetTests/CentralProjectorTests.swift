import Foundation
import Logging
import SelfHealEvents
import SelfHealFleet
import SelfHealStore
import Testing

/// `selfheal central` on a real PostgreSQL server, as real processes: the fleet's incidents and counters equal a
/// local store's fed the same events in the same order; a second central takes over within 5 s of the first being
/// killed; a central killed mid-batch resumes to the same figures; `verify --store` passes, then finds rows
/// changed behind the database's back.
@Suite(.serialized)
struct CentralProjectorTests {
    let hosts = ["host-a", "host-b", "host-c"]

    /// The fleet's rows equal the local store's: incidents (ids, fleet_seqs, every column) and counters, and
    /// the incidents as the query API shows them.
    func expectEqualToLocal(_ log: FleetTestLog) async throws {
        let fleet = try await log.fleetRows()
        let local = try log.local.projectionRows()
        #expect(fleet.incidents.count == local.incidents.count)
        #expect(fleet.incidents == local.incidents)
        #expect(fleet.counters.map(\.0) == local.counters.map(\.0))
        #expect(fleet.counters.map(\.1) == local.counters.map(\.1))
        let quietPeriod = try log.local.quietPeriod()
        let asOf = (fleet.incidents.map(\.lastEventAt).max() ?? 0) + 1
        let shown = try log.local.incidents(IncidentFilter(since: 0, until: 4_000_000_000_000, asOf: asOf))
        #expect(
            fleet.incidents.map { $0.shown(asOf: asOf, quietPeriod: quietPeriod) }.sorted { $0.id < $1.id }
                == shown.sorted { $0.id < $1.id }
        )
    }

    @Test func centralEqualsALocalStoreAndVerifyFindsChangedRows() async throws {
        let url = try TestPostgresServer.shared().makeDatabase()
        try await FleetTestLog.with(url: url) { log in
            var stream = FleetTestStream(seed: 13)
            try await log.append(stream.take(3_000), hosts: hosts, batch: 97)
            let central = try CentralProcess(store: url, arguments: ["--batch-size", "500"])
            try await central.waitForLog("applying the fleet log from fleet_seq 1")
            try await log.waitCaughtUp()
            // More while it runs.
            try await log.append(stream.take(1_000), hosts: hosts, batch: 50)
            try await log.waitCaughtUp()
            central.kill()
            let incidents = try await log.fleetRows().incidents
            #expect(incidents.count > 100)
            #expect(Set(incidents.map(\.state)).count == 4)
            try await expectEqualToLocal(log)

            let clean = try SelfhealBinary.run(["verify", "--store", url])
            #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
            #expect(clean.stdout.contains("log: 4000 events from 3 hosts, fleet_seq 1 to 4000 without gaps"))
            #expect(clean.stdout.contains("projections: equal to a fresh replay (\(incidents.count) incidents"))
            #expect(clean.stdout.contains("every one recomputes"))

            try await log.execute("UPDATE fleet_incidents SET event_count = event_count + 1 WHERE id = 2")
            let changedIncident = try SelfhealBinary.run(["verify", "--store", url])
            #expect(changedIncident.status == 1)
            #expect(changedIncident.stdout.contains("incident 2 differs"), "\(changedIncident.stdout)")
            #expect(changedIncident.stdout.contains("every one recomputes"))

            try await log.execute("ALTER TABLE fleet_events DISABLE TRIGGER USER")
            try await log.execute("UPDATE fleet_events SET message = 'x' WHERE fleet_seq = 3")
            try await log.execute("ALTER TABLE fleet_events ENABLE TRIGGER USER")
            let changedEvent = try SelfhealBinary.run(["verify", "--store", url])
            #expect(changedEvent.status == 1)
            #expect(changedEvent.stdout.contains("does not recompute"), "\(changedEvent.stdout)")
            #expect(changedEvent.stderr.contains("the fleet log differs from fleet_seq 1"), "\(changedEvent.stderr)")
        }
    }

    @Test func aSecondCentralTakesOverWithinFiveSecondsOfASIGKILL() async throws {
        let url = try TestPostgresServer.shared().makeDatabase()
        try await FleetTestLog.with(url: url) { log in
            var stream = FleetTestStream(seed: 7)
            try await log.append(stream.take(2_000), hosts: hosts, batch: 100)
            let first = try CentralProcess(store: url, arguments: ["--batch-size", "200"])
            try await first.waitForLog("applying the fleet log")
            try await log.waitCaughtUp()
            let second = try CentralProcess(store: url, arguments: ["--batch-size", "200"])
            try await second.waitForLog("another central applies the fleet log: waiting to take over")
            try await log.append(stream.take(20_000), hosts: hosts, batch: 500)
            let clock = ContinuousClock()
            let killed = clock.now
            first.kill()
            try await second.waitForLog("took over applying the fleet log", timeout: .seconds(5))
            #expect(clock.now - killed < .seconds(5))
            try await log.waitCaughtUp()
            try await expectEqualToLocal(log)
            let verify = try SelfhealBinary.run(["verify", "--store", url])
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
            second.kill()
        }
    }

    @Test func aCentralKilledMidBatchResumesToTheSameFigures() async throws {
        let url = try TestPostgresServer.shared().makeDatabase()
        try await FleetTestLog.with(url: url) { log in
            var stream = FleetTestStream(seed: 21)
            try await log.append(stream.take(30_000), hosts: hosts, batch: 1_000)
            let first = try CentralProcess(store: url, arguments: ["--batch-size", "300"])
            try await poll("the projector to apply a few batches") { try await log.progress().applied >= 3_000 }
            first.kill()
            let (head, applied) = try await log.progress()
            #expect(applied < head, "the projector finished before it was killed: no batch was interrupted")
            #expect(applied % 300 == 0)
            let second = try CentralProcess(store: url, arguments: ["--batch-size", "300"])
            try await second.waitForLog("applying the fleet log from fleet_seq \(applied + 1)")
            try await log.waitCaughtUp()
            try await expectEqualToLocal(log)
            let verify = try SelfhealBinary.run(["verify", "--store", url])
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
            second.kill()
        }
    }

    @Test func theQuietPeriodIsSetBeforeTheFirstEventAndThenKept() async throws {
        let url = try TestPostgresServer.shared().makeDatabase()
        try await FleetTestLog.with(url: url, quietPeriod: 2 * 3_600_000) { log in
            var stream = FleetTestStream(seed: 5)
            try await log.append(stream.take(3_000), hosts: hosts, batch: 100)
            // The smallest working set the command line allows.
            let central = try CentralProcess(store: url, arguments: ["--quiet-period", "2h", "--working-set", "1000"])
            try await central.waitForLog("applying the fleet log")
            try await log.waitCaughtUp()
            central.kill()
            try await expectEqualToLocal(log)
            #expect(try await log.fleetRows().incidents.contains { $0.state == .expired })
            let refused = try SelfhealBinary.run(["central", "--store", url, "--quiet-period", "3h"])
            #expect(refused.status == 1)
            #expect(
                refused.stderr.contains("the central store's quiet period is 2h, not 3h as asked"),
                "\(refused.stderr)"
            )
            let unknown = try SelfhealBinary.run(["central", "--store", "mysql://x@y/z"])
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("not a postgresql:// URL"))
        }
    }

    @Test func centralLogsWhenTheStoreGoesAwayAndCatchesUpWhenItIsBack() async throws {
        let server = try TestPostgresServer.start()
        defer { server.stop() }
        let url = try server.makeDatabase()
        try await FleetTestLog.with(url: url) { log in
            var stream = FleetTestStream(seed: 99)
            try await log.append(stream.take(1_000), hosts: hosts, batch: 100)
            let central = try CentralProcess(store: url)
            try await log.waitCaughtUp()
            try server.pause()
            try await central.waitForLog("the central store went away")
            try server.resume()
            try await central.waitForLog("the central store is back")
            try await central.waitForLog("applying the fleet log from fleet_seq 1001")
            try await log.reconnect()
            try await log.append(stream.take(1_000), hosts: hosts, batch: 100)
            try await log.waitCaughtUp()
            central.kill()
            try await expectEqualToLocal(log)
        }
    }

    @Test func centralStartedBeforeItsStoreWaitsForIt() async throws {
        let server = try TestPostgresServer.start()
        defer { server.stop() }
        let url = try server.makeDatabase()
        try await FleetTestLog.with(url: url) { log in
            var stream = FleetTestStream(seed: 41)
            try await log.append(stream.take(1_000), hosts: hosts, batch: 100)
            try server.pause()
            let central = try CentralProcess(store: url)
            try await central.waitForLog("is unreachable")
            #expect(central.process.isRunning, "\(central.log)")
            try server.resume()
            try await central.waitForLog("answers")
            try await central.waitForLog("applying the fleet log from fleet_seq 1")
            try await log.reconnect()
            try await log.waitCaughtUp()
            central.kill()
            try await expectEqualToLocal(log)
            #expect(central.log.components(separatedBy: "is unreachable").count == 2, "one line while waiting")
        }
    }

    @Test func centralGivenAStoreThatRefusesItsLoginFailsAtOnce() async throws {
        let url = try TestPostgresServer.shared().makeDatabase()
        let wrong = url.replacingOccurrences(of: "postgresql://postgres@", with: "postgresql://nobody@")
        let central = try CentralProcess(store: wrong)
        central.process.waitUntilExit()
        #expect(central.process.terminationStatus != 0)
        let lines = central.log.split(separator: "\n")
        #expect(lines.count == 1, "\(central.log)")
        #expect(central.log.contains("cannot connect to the central store"), "\(central.log)")
        #expect(central.log.contains("nobody"), "\(central.log)")
    }

    /// A working set of 50 incidents: the ledger evicts to the central store, prefetches and looks keys up there,
    /// and rebuilds its filter from it, and the figures stay the local store's.
    @Test func aSmallWorkingSetGivesTheSameFigures() async throws {
        let url = try TestPostgresServer.shared().makeDatabase()
        try await FleetTestLog.with(url: url) { log in
            var stream = FleetTestStream(seed: 3, components: 400)
            try await log.append(stream.take(6_000), hosts: hosts, batch: 250)
            var options = CentralProjector.Options(url: try FleetStoreURL(url))
            options.workingSetLimit = 50
            options.batchSize = 100
            options.stopWhenCaughtUp = true
            let projector = CentralProjector(options, logger: Logger(label: "test"))
            try await projector.run()
            #expect(projector.eventsApplied == 6_000)
            try await expectEqualToLocal(log)
            let active = try await log.fleetRows().incidents.count { $0.endedAt == nil }
            #expect(active > 100, "the working set never overflowed")
        }
    }
}
