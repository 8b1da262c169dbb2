import Foundation

/// CPU time of each thread of this process, read from `/proc/self/task/*/stat` (user + system, clock ticks
/// turned into seconds). Two snapshots taken around a run say how much CPU each thread used in it, whatever the
/// load of the machine: the busiest thread of a daemon run is its writer, which bounds its rate on an idle
/// machine.
struct ThreadCPU {
    /// Seconds per thread id, of the threads alive at the snapshot.
    let seconds: [Int: Double]
    /// Seconds of the whole process, threads that have ended included.
    let process: Double

    /// The current snapshot.
    static func now() -> ThreadCPU {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var seconds: [Int: Double] = [:]
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for task in tasks {
            guard let id = Int(task),
                let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // After "pid (comm) ": state is field 3, utime field 14, stime field 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            seconds[id] = (user + system) / ticks
        }
        return ThreadCPU(seconds: seconds, process: processCPUSeconds())
    }

    /// The CPU seconds of the process (a daemon's threads end with it, so a sum over the threads alive would
    /// miss them), and of the busiest thread alive at both snapshots, since `earlier`.
    func since(_ earlier: ThreadCPU) -> (total: Double, busiest: Double) {
        var busiest = 0.0
        for (id, value) in seconds { busiest = max(busiest, value - (earlier.seconds[id] ?? 0)) }
        return (process - earlier.process, busiest)
    }
}
