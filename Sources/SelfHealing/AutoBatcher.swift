import SelfHealEvents
import Synchronization

/// How an ``AutoBatcher`` sizes its batches.
public struct AutoBatchConfiguration: Sendable {
    /// Whether batching is on; when off all items go to one call.
    public var isEnabled: Bool = true
    /// The time the whole run must fit in, e.g. a serverless function's timeout. Default 10 s.
    public var timeLimit: Duration = .seconds(10)
    /// The share of the limit actually used, leaving room for the rest of the request. Default 0.8.
    public var safetyMargin: Double = 0.8
    /// The time per item assumed before any batch was measured. Default 10 ms.
    public var initialTimePerItem: Duration = .milliseconds(10)
    /// The smallest batch. Default 1.
    public var minBatchSize: Int = 1
    /// The largest batch. Default 100.
    public var maxBatchSize: Int = 100
    /// Stop after this many batches in one run (`1` for "one batch per click"); `nil` for as many as fit.
    public var maxBatchesPerRun: Int? = nil

    /// Creates a configuration with the documented defaults.
    public init() {}

    /// Creates a configuration.
    /// - Parameters:
    ///   - timeLimit: the time one run must fit in.
    ///   - initialTimePerItem: the time per item assumed before measuring.
    ///   - maxBatchSize: the largest batch.
    public init(timeLimit: Duration, initialTimePerItem: Duration = .milliseconds(10), maxBatchSize: Int = 100) {
        self.timeLimit = timeLimit
        self.initialTimePerItem = initialTimePerItem
        self.maxBatchSize = maxBatchSize
    }
}

/// What a job would take, before it runs.
public struct BatchPlan: Sendable, Equatable {
    /// Items in the job.
    public var items: Int
    /// Items per batch.
    public var batchSize: Int
    /// Batches needed for the whole job.
    public var batches: Int
    /// Estimated time for the whole job in one go.
    public var estimatedTotal: Duration
    /// Whether doing it in one go would exceed the time limit.
    public var exceedsLimit: Bool
}

/// Where a batched job stands, reported after each batch.
public struct BatchProgress: Sendable, Equatable, CustomStringConvertible {
    /// Items done in this run so far.
    public var processed: Int
    /// Items in this run.
    public var total: Int
    /// The batch just finished, from 1.
    public var batch: Int
    /// Batches the whole job needs at the current batch size.
    public var batches: Int

    /// Items not done yet.
    public var remaining: Int { total - processed }

    /// E.g. `Processed 100 / 1418 (1318 remaining)`.
    public var description: String { "Processed \(processed) / \(total) (\(remaining) remaining)" }
}

/// What one run did.
public struct BatchRunResult: Sendable, Equatable {
    /// Items processed in this run.
    public var processed: Int
    /// Items left for a later run (the caller passes them again, e.g. on the next click).
    public var remaining: Int
    /// Batches run.
    public var batches: Int
    /// Whether every item was processed.
    public var isComplete: Bool { remaining == 0 }
}

/// Splits a large job into batches that fit a time limit, learning the time per item from measured batches.
///
/// Before it starts, a job whose estimate exceeds the limit emits `timeout.prevented` (attrs `items`,
/// `batch_size`, `estimated_ms`, `limit_ms`); each batch emits `batch.completed` (`batch`, `batches`, `items`).
/// A run stops before a batch that would not fit in what is left of the limit, and says what remains.
public final class AutoBatcher<C: Clock>: Sendable where C.Duration == Duration {
    /// The batcher's settings.
    public let configuration: AutoBatchConfiguration
    /// Where events go.
    public let reporter: EventReporter
    /// The clock that measures batches.
    public let clock: C
    private let secondsPerItem: Mutex<Double>

    /// Creates a batcher.
    /// - Parameters:
    ///   - configuration: the time limit and batch bounds.
    ///   - reporter: where events go; its component names the job, e.g. `spam-capture`.
    ///   - clock: the clock that measures batches.
    public init(configuration: AutoBatchConfiguration = AutoBatchConfiguration(), reporter: EventReporter, clock: C) {
        self.configuration = configuration
        self.reporter = reporter
        self.clock = clock
        secondsPerItem = Mutex(max(1e-9, configuration.initialTimePerItem.seconds))
    }

    /// The current estimate of the time one item takes.
    public var timePerItem: Duration { .seconds(saturating: secondsPerItem.withLock { $0 }) }

    /// What a job of `itemCount` items would take, at the current estimate.
    public func plan(itemCount: Int) -> BatchPlan {
        let perItem = secondsPerItem.withLock { $0 }
        let budget = configuration.timeLimit.seconds * configuration.safetyMargin
        let fitting = perItem > 0 ? budget / perItem : Double(configuration.maxBatchSize)
        let upper = max(1, configuration.maxBatchSize)
        let size = min(upper, max(max(1, configuration.minBatchSize), fitting >= Double(upper) ? upper : Int(fitting)))
        let estimated = Double(itemCount) * perItem
        return BatchPlan(
            items: itemCount,
            batchSize: size,
            batches: itemCount == 0 ? 0 : (itemCount + size - 1) / size,
            estimatedTotal: .seconds(saturating: estimated),
            exceedsLimit: estimated > configuration.timeLimit.seconds
        )
    }

    /// Processes `items` in batches until done or until the next batch would not fit in the time limit.
    /// - Parameters:
    ///   - items: the job.
    ///   - progress: called after each batch.
    ///   - process: does one batch.
    /// - Returns: what was done and what remains; the first `processed` items are the ones done.
    public nonisolated(nonsending) func run<Item>(
        _ items: [Item],
        progress: (BatchProgress) -> Void = { _ in },
        process: nonisolated(nonsending) ([Item]) async throws -> Void
    ) async throws -> BatchRunResult {
        guard configuration.isEnabled else {
            if !items.isEmpty { try await process(items) }
            progress(BatchProgress(processed: items.count, total: items.count, batch: 1, batches: 1))
            return BatchRunResult(processed: items.count, remaining: 0, batches: items.isEmpty ? 0 : 1)
        }
        let start = clock.now
        let budget = configuration.timeLimit.seconds * configuration.safetyMargin
        var plan = plan(itemCount: items.count)
        if plan.exceedsLimit { reportPrevented(plan) }
        var processed = 0
        var batch = 0
        while processed < items.count {
            if let most = configuration.maxBatchesPerRun, batch >= most { break }
            let size = min(plan.batchSize, items.count - processed)
            let elapsed = start.duration(to: clock.now).seconds
            if batch > 0, elapsed + Double(size) * timePerItem.seconds > budget { break }
            let batchStart = clock.now
            try await process(Array(items[processed..<(processed + size)]))
            learn(items: size, took: batchStart.duration(to: clock.now))
            processed += size
            batch += 1
            let batches = batch + plan.batches(for: items.count - processed)
            reportBatch(batch, of: batches, items: size)
            progress(BatchProgress(processed: processed, total: items.count, batch: batch, batches: batches))
            plan = self.plan(itemCount: items.count - processed)
        }
        return BatchRunResult(processed: processed, remaining: items.count - processed, batches: batch)
    }

    /// Folds one measured batch into the estimate (equal weight to the old estimate and the new measurement).
    private func learn(items: Int, took duration: Duration) {
        guard items > 0 else { return }
        let measured = max(1e-9, duration.seconds / Double(items))
        secondsPerItem.withLock { $0 = ($0 + measured) / 2 }
    }

    private func reportPrevented(_ plan: BatchPlan) {
        guard reporter.isEnabled else { return }
        let limit = configuration.timeLimit.milliseconds
        let estimated = plan.estimatedTotal.milliseconds
        reporter.emit(
            .timeoutPrevented,
            "Prevented timeout: \(plan.items) items need about \(estimated) ms (limit \(limit) ms); "
                + "batching by \(plan.batchSize)"
        ) {
            $0.set("items", plan.items)
            $0.set("batch_size", plan.batchSize)
            $0.set("estimated_ms", estimated)
            $0.set("limit_ms", limit)
            $0.set("batches", plan.batches)
        }
    }

    private func reportBatch(_ batch: Int, of batches: Int, items: Int) {
        reporter.emit(.batchCompleted, "Batch \(batch)/\(batches) completed: \(items) items") {
            $0.set("batch", batch)
            $0.set("batches", batches)
            $0.set("items", items)
        }
    }
}

extension BatchPlan {
    /// Batches needed for `count` items at this plan's batch size.
    func batches(for count: Int) -> Int { count <= 0 ? 0 : (count + batchSize - 1) / batchSize }
}

extension AutoBatcher where C == ContinuousClock {
    /// Creates a batcher on the continuous clock.
    /// - Parameters:
    ///   - configuration: the time limit and batch bounds.
    ///   - reporter: where events go.
    public convenience init(configuration: AutoBatchConfiguration = AutoBatchConfiguration(), reporter: EventReporter) {
        self.init(configuration: configuration, reporter: reporter, clock: ContinuousClock())
    }
}
