import Foundation
import SelfHealEvents
import SelfHealStore

/// `selfheal-bench mixed [--events N] [--runs R] [--hours H] [--key-shape middle|end] [--peer] [--peer-script PATH]`:
/// a fleet-like workload over the real socket to the real daemon, with projections and log only, and (with
/// `--peer`) the same lines to the Python asyncio daemon a user would write instead, all in the same runs.
enum MixedBenchmark {
    static func run(_ arguments: [String]) async throws {
        let total = Int(Bench.option(arguments, "events", default: "500000")) ?? 500_000
        let runs = Int(Bench.option(arguments, "runs", default: "3")) ?? 3
        let hours = Double(Bench.option(arguments, "hours", default: "24")) ?? 24
        let clients = Int(Bench.option(arguments, "clients", default: "4")) ?? 4
        let keyShape = Bench.option(arguments, "key-shape", default: "middle")
        guard ["middle", "end"].contains(keyShape) else { throw BenchError("--key-shape is middle or end") }
        let peerScript = arguments.contains("--peer") ? Bench.option(arguments, "peer-script", default: "") : nil
        let script = peerScript.map { $0.isEmpty ? PeerDaemon.defaultScript() : $0 }
        if let script, !FileManager.default.fileExists(atPath: script) {
            throw BenchError("no peer script at \(script); pass --peer-script PATH")
        }
        let workload = FleetWorkload(events: total, hours: hours, keyShape: keyShape)
        let shares = workload.shares(clients: clients)
        say(
            "mixed: \(Bench.grouped(Double(total))) events of \(workload.averageBytes) bytes on average, "
                + "\(FleetWorkload.services.count) services x \(FleetWorkload.components.count) components, "
                + "60% with an incident key (10,000 per kind family, shape \(keyShape): e.g. \(workload.exampleKey)), "
                + String(format: "ts over %g h with up to 2 s of lateness, ", hours)
                + "\(clients) clients (one per pair of services), durability full, sync every 1,000; "
                + "median of \(runs) runs"
        )
        var logOnly: [Double] = []
        var projected: [Double] = []
        var peer: [Double] = []
        var shareOfLogOnly: [Double] = []
        var overPeer: [Double] = []
        var cpu: [Bool: [(total: Double, busiest: Double)]] = [:]
        for run in 0..<runs {
            var before = ThreadCPU.now()
            // `--projections-only` (for profiling) leaves out the log-only daemon.
            let plain =
                arguments.contains("--projections-only")
                ? Double.nan : try await Clients.throughDaemon(shares, durability: .full, projections: false).rate
            cpu[false, default: []].append(ThreadCPU.now().since(before))
            before = ThreadCPU.now()
            let withProjections = try await Clients.throughDaemon(
                shares,
                durability: .full,
                projections: true,
                inspect: run == 0 ? { say(try describe($0, events: total)) } : nil
            ).rate
            cpu[true, default: []].append(ThreadCPU.now().since(before))
            logOnly.append(plain)
            projected.append(withProjections)
            shareOfLogOnly.append(withProjections / plain)
            if let script {
                let rate = try await peerRate(shares, script: script, events: total)
                peer.append(rate)
                overPeer.append(withProjections / rate)
            }
            say(
                "run \(run + 1): log only \(Bench.grouped(plain)), projections \(Bench.grouped(withProjections))"
                    + (peer.count == run + 1 ? ", python peer \(Bench.grouped(peer[run]))" : "") + " events/s"
            )
        }
        say(
            "CPU per event (medians; the busiest thread is the writer): "
                + [false, true].map { projections in
                    let runs = cpu[projections] ?? []
                    let all = Bench.median(runs.map { $0.total }) / Double(total) * 1e6
                    let busiest = Bench.median(runs.map { $0.busiest }) / Double(total) * 1e6
                    return String(
                        format: "%@ %.2f us in the process, %.2f us in the busiest thread",
                        projections ? "projections" : "log only",
                        all,
                        busiest
                    )
                }.joined(separator: "; ")
        )
        say("path                                   events/s (median)")
        say("selfheal, log only".padded(39) + Bench.grouped(Bench.median(logOnly)))
        say("selfheal, projections".padded(39) + Bench.grouped(Bench.median(projected)))
        if !peer.isEmpty { say("python asyncio peer (no acks)".padded(39) + Bench.grouped(Bench.median(peer))) }
        say(
            String(
                format: "projections / log only: %.0f%% (median of the runs' ratios; target >= 75%%)",
                Bench.median(shareOfLogOnly) * 100
            )
        )
        if !overPeer.isEmpty {
            say(
                String(
                    format: "projections / python peer: %.2fx (median of the runs' ratios; target >= 2x)",
                    Bench.median(overPeer)
                )
            )
        }
    }

    /// The same lines to the Python peer: events per second until it has committed them all.
    static func peerRate(_ shares: [[[UInt8]]], script: String, events: Int) async throws -> Double {
        let peer = try PeerDaemon(script: script)
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try await Clients.send(shares, path: peer.socketPath, acknowledged: false)
        try peer.waitForRows(outcome.sent, timeout: .seconds(600))
        let seconds = (clock.now - start).seconds
        let stored = try peer.stop()
        guard stored == events else {
            throw BenchError("sent \(events) lines to the peer; its database holds \(stored)")
        }
        return Double(events) / seconds
    }

    /// What the projections made of the workload: incidents by state, and how many events opened one.
    static func describe(_ store: EventStore, events: Int) throws -> String {
        var states: [String: Int] = [:]
        var incidents = 0
        try store.forEachIncident(
            IncidentFilter(since: Timestamp.minimum, until: Timestamp.maximum, asOf: WallClock.nowMillis())
        ) {
            states[$0.state.rawValue, default: 0] += 1
            incidents += 1
        }
        let byState = states.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        return String(
            format: "workload as projected: %@ incidents (opened by %.1f%% of events): %@",
            Bench.grouped(Double(incidents)),
            Double(incidents) / Double(events) * 100,
            byState
        )
    }
}
