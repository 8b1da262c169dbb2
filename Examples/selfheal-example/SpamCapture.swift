import SelfHealing

/// The status of a captured text message (scenario analysis, issues #2 and #3).
enum RawStatus: String, Hashable, Sendable, CustomStringConvertible {
    case ready = "READY"
    case spamReview = "SPAM_REVIEW"
    case promoted = "PROMOTED"
    case spamArchived = "SPAM_ARCHIVED"

    var description: String { rawValue }
}

struct Message: Sendable {
    var id: String
    var status: RawStatus
}

/// Issue #2 and #3: the "Capture Spam" button over 1,418 READY messages, with a 10 s function timeout, and a
/// buggy scan that also picks up PROMOTED messages. Auto-batching keeps each click under the timeout and reports
/// progress; the transition table blocks PROMOTED -> SPAM_REVIEW.
func spamCaptureStory(sink: any EventSink, service: String, flags: FeatureFlags) async throws {
    print("\n== Spam capture: 1,418 READY messages, a 10 s function timeout ==")
    let clock = SimulatedClock()
    let reporter = EventReporter(sink: sink, service: service, component: "spam-capture")
    let messages = TransitionValidator<RawStatus>(
        entity: "message",
        reporter: reporter,
        allowed: [.ready: [.spamReview, .promoted], .spamReview: [.ready, .spamArchived]],
        isEnabled: flags.transitions
    )
    var batching = AutoBatchConfiguration(timeLimit: .seconds(10), initialTimePerItem: .milliseconds(10))
    batching.isEnabled = flags.autoBatch
    let batcher = AutoBatcher(configuration: batching, reporter: reporter, clock: clock)

    // The scan's bug: five old PROMOTED messages match a spam rule too.
    var queue = (1...1_418).map { Message(id: "msg-\($0)", status: .ready) }
    queue.insert(contentsOf: (1...5).map { Message(id: "old-\($0)", status: .promoted) }, at: 700)
    let plan = batcher.plan(itemCount: queue.count)
    print(
        "\(clock.stamp) estimated \(plan.estimatedTotal) for \(plan.items) items: over the 10 s limit,"
            + " batching by \(plan.batchSize)"
    )

    var click = 0
    var captured = 0
    var blocked = 0
    while !queue.isEmpty {
        click += 1
        let clickStart = clock.now
        let result = try await batcher.run(queue) { batch in
            for message in batch {
                clock.advance(by: .milliseconds(10))  // one UPDATE of the message
                switch messages.check(id: message.id, from: message.status, to: .spamReview, operation: "spam-capture")
                {
                case .success: captured += 1
                case .failure: blocked += 1
                }
            }
        }
        queue.removeFirst(result.processed)
        if clickStart.duration(to: clock.now) > .seconds(10) {
            print(
                "\(clock.stamp) click \(click) ran past the 10 s timeout: the user would have seen an HTML error page"
            )
        }
        print(
            "\(clock.stamp) click \(click): Captured \(captured) / 1418 (\(queue.count) remaining),"
                + " \(blocked) invalid transitions blocked"
        )
        clock.advance(by: .seconds(1))  // the user clicks again
    }
}
