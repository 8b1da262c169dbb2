import SelfHealEvents
import SelfHealingTesting
import Testing

@testable import SelfHealing

enum RawStatus: String, Hashable, Sendable, CustomStringConvertible {
    case ready = "READY"
    case spamReview = "SPAM_REVIEW"
    case promoted = "PROMOTED"
    case spamArchived = "SPAM_ARCHIVED"

    var description: String { rawValue }
}

@Suite struct TransitionValidatorTests {
    func validator(_ reporter: EventReporter, isEnabled: Bool = true) -> TransitionValidator<RawStatus> {
        TransitionValidator(
            entity: "message",
            reporter: reporter,
            allowed: [.ready: [.spamReview, .promoted], .spamReview: [.ready, .spamArchived]],
            isEnabled: isEnabled
        )
    }

    @Test func allowsTheTable() throws {
        let (reporter, sink) = recordingReporter("spam-capture")
        let messages = validator(reporter)
        try messages.validate(id: "m1", from: .ready, to: .spamReview, operation: "spam-capture")
        try messages.validate(id: "m1", from: .ready, to: .promoted, operation: "promote")
        try messages.validate(id: "m1", from: .spamReview, to: .ready, operation: "review")
        try messages.validate(id: "m1", from: .spamReview, to: .spamArchived, operation: "review")
        #expect(sink.events.isEmpty)
        #expect(messages.allowedTargets(from: .ready) == [.spamReview, .promoted])
    }

    @Test func blocksAndReports() throws {
        let (reporter, sink) = recordingReporter("spam-capture")
        let messages = validator(reporter)
        #expect(throws: TransitionError<RawStatus>.self) {
            try messages.validate(id: "abc123", from: .promoted, to: .spamReview, operation: "spam-capture")
        }
        let event = try #require(sink.events.first)
        #expect(event.kind == .transitionBlocked)
        let attrs = attributes(event)
        #expect(attrs["entity"] as? String == "message")
        #expect(attrs["id"] as? String == "abc123")
        #expect(attrs["from"] as? String == "PROMOTED")
        #expect(attrs["to"] as? String == "SPAM_REVIEW")
        #expect(attrs["operation"] as? String == "spam-capture")
        guard case .failure(let error) = messages.check(id: "x", from: .spamArchived, to: .ready, operation: "undo")
        else {
            Issue.record("terminal status allowed a transition")
            return
        }
        #expect(
            error.description
                == "invalid message transition SPAM_ARCHIVED -> READY for x by undo (SPAM_ARCHIVED is terminal)"
        )
        #expect(!messages.canTransition(from: .ready, to: .ready))
        #expect(!messages.canTransition(from: .ready, to: .spamArchived))
    }

    @Test func disabledAllowsEverything() throws {
        let (reporter, sink) = recordingReporter()
        try validator(reporter, isEnabled: false).validate(id: "1", from: .promoted, to: .ready, operation: "x")
        #expect(sink.events.isEmpty)
    }
}

@Suite struct AutoBatcherTests {
    @Test func plansTheSpamCapture() {
        let batcher = AutoBatcher(
            configuration: AutoBatchConfiguration(timeLimit: .seconds(10)),
            reporter: recordingReporter().0,
            clock: ManualClock()
        )
        let plan = batcher.plan(itemCount: 1_418)
        #expect(plan.batchSize == 100)
        #expect(plan.batches == 15)
        #expect(plan.estimatedTotal == .milliseconds(14_180))
        #expect(plan.exceedsLimit)
        #expect(!batcher.plan(itemCount: 500).exceedsLimit)
    }

    @Test func preventsTheTimeoutAndStopsBeforeTheLimit() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter("spam-capture")
        let batcher = AutoBatcher(
            configuration: AutoBatchConfiguration(timeLimit: .seconds(10)),
            reporter: reporter,
            clock: clock
        )
        let items = Array(0..<1_418)
        let processed = Box<[Int]>([])
        let progress = Box<[BatchProgress]>([])
        let result = try await batcher.run(
            items,
            progress: { update in progress.withLock { $0.append(update) } },
            process: { batch in
                clock.advance(by: .milliseconds(10) * batch.count)
                processed.withLock { $0.append(contentsOf: batch) }
            }
        )
        // 80% of 10 s is 8 s: eight batches of 100 at 10 ms an item.
        #expect(result == BatchRunResult(processed: 800, remaining: 618, batches: 8))
        #expect(processed.value == Array(0..<800))
        #expect(progress.value.last?.description == "Processed 800 / 1418 (618 remaining)")
        #expect(sink.kinds.first == "timeout.prevented")
        let prevented = attributes(sink.events[0])
        #expect(prevented["items"] as? Int == 1_418)
        #expect(prevented["batch_size"] as? Int == 100)
        #expect(prevented["estimated_ms"] as? Int == 14_180)
        #expect(prevented["limit_ms"] as? Int == 10_000)
        let batches = sink.events(of: .batchCompleted)
        #expect(batches.count == 8)
        #expect(attributes(batches[0])["batch"] as? Int == 1)
        #expect(attributes(batches[0])["batches"] as? Int == 15)
        #expect(attributes(batches[0])["items"] as? Int == 100)

        // The next click does the rest.
        let rest = try await batcher.run(Array(items[800...])) { batch in
            clock.advance(by: .milliseconds(10) * batch.count)
        }
        #expect(rest.isComplete)
        #expect(rest.processed == 618)
    }

    @Test func learnsFromMeasuredBatches() async throws {
        let clock = ManualClock()
        var configuration = AutoBatchConfiguration(
            timeLimit: .seconds(1),
            initialTimePerItem: .milliseconds(1),
            maxBatchSize: 1_000
        )
        configuration.safetyMargin = 1
        let batcher = AutoBatcher(configuration: configuration, reporter: recordingReporter().0, clock: clock)
        #expect(batcher.plan(itemCount: 10_000).batchSize == 1_000)
        // Items really take 4 ms: the estimate moves towards it and batches shrink.
        let result = try await batcher.run(
            Array(0..<10_000),
            process: { batch in
                clock.advance(by: .milliseconds(4) * batch.count)
            }
        )
        #expect(result.processed < 10_000)
        #expect(batcher.timePerItem > .milliseconds(2))
        #expect(batcher.plan(itemCount: 10_000).batchSize < 500)
    }

    @Test func oneBatchPerRunWhenAsked() async throws {
        var configuration = AutoBatchConfiguration(timeLimit: .seconds(10))
        configuration.maxBatchesPerRun = 1
        let batcher = AutoBatcher(configuration: configuration, reporter: recordingReporter().0, clock: ManualClock())
        let result = try await batcher.run(Array(0..<1_418)) { _ in }
        #expect(result == BatchRunResult(processed: 100, remaining: 1_318, batches: 1))
    }

    @Test func disabledProcessesEverythingAtOnce() async throws {
        var configuration = AutoBatchConfiguration()
        configuration.isEnabled = false
        let (reporter, sink) = recordingReporter()
        let batcher = AutoBatcher(configuration: configuration, reporter: reporter, clock: ManualClock())
        let sizes = Box<[Int]>([])
        let result = try await batcher.run(Array(0..<1_418)) { batch in sizes.withLock { $0.append(batch.count) } }
        #expect(sizes.value == [1_418])
        #expect(result.isComplete)
        #expect(sink.events.isEmpty)
    }
}
