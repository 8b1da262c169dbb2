import Synchronization

/// A queue between many producers and one consumer that never drops: `push` always enqueues, then suspends
/// the producer while the queue holds more than its capacity (by weight), which is how the daemon stops
/// reading from clients when the writer falls behind. The consumer takes everything queued at once.
final class BoundedQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var weight = 0
        var finished = false
        var consumer: CheckedContinuation<[Element]?, Never>?
        var producers: [CheckedContinuation<Void, Never>] = []
        /// Producers of ``BoundedQueue/offer(_:weight:waitingAtMost:)`` waiting for room, by ticket.
        var offers: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextOffer = 0
    }

    private enum PushAction {
        case none
        case refused
        case wait
        case deliver(CheckedContinuation<[Element]?, Never>, [Element])
    }

    private enum PopAction {
        case items([Element], [CheckedContinuation<Void, Never>])
        case done
        case wait
    }

    private let state = Mutex(State())
    /// The weight above which producers wait.
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Enqueues an element; suspends while the queue is over capacity. Returns false, enqueuing nothing, once
    /// the queue is finished.
    @discardableResult
    func push(_ element: Element, weight: Int = 1) async -> Bool {
        let action: PushAction = state.withLock { state in
            guard !state.finished else { return .refused }
            state.items.append(element)
            state.weight += max(1, weight)
            if let consumer = state.consumer {
                state.consumer = nil
                let items = state.items
                state.items = []
                state.weight = 0
                return .deliver(consumer, items)
            }
            return state.weight > capacity ? .wait : .none
        }
        switch action {
        case .none: return true
        case .refused: return false
        case .deliver(let consumer, let items):
            consumer.resume(returning: items)
            return true
        case .wait:
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.weight <= capacity || state.finished { return true }
                    state.producers.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            return true
        }
    }

    /// What became of an ``offer(_:weight:waitingAtMost:)``.
    enum OfferResult {
        case queued
        /// No room for the whole wait: nothing was queued.
        case full
        /// The queue is finished: nothing was queued.
        case finished
    }

    private enum OfferAttempt {
        case done(OfferResult, CheckedContinuation<[Element]?, Never>?, [Element])
        case full
    }

    /// Enqueues an element only when it fits (or the queue is empty), waiting at most `wait` for room; unlike
    /// ``push(_:weight:)`` it never enqueues beyond capacity and gives up instead of waiting on.
    func offer(_ element: Element, weight: Int, waitingAtMost wait: Duration) async -> OfferResult {
        let deadline = ContinuousClock.now + wait
        let weight = max(1, weight)
        while true {
            let attempt: OfferAttempt = state.withLock { state in
                guard !state.finished else { return .done(.finished, nil, []) }
                guard state.weight == 0 || state.weight + weight <= capacity else { return .full }
                state.items.append(element)
                state.weight += weight
                guard let consumer = state.consumer else { return .done(.queued, nil, []) }
                state.consumer = nil
                let items = state.items
                state.items = []
                state.weight = 0
                return .done(.queued, consumer, items)
            }
            switch attempt {
            case .done(let result, let consumer, let items):
                consumer?.resume(returning: items)
                return result
            case .full:
                guard ContinuousClock.now < deadline else { return .full }
                await waitForRoom(until: deadline)
            }
        }
    }

    /// Returns when the consumer takes what is queued, the queue finishes, or the deadline passes.
    private func waitForRoom(until deadline: ContinuousClock.Instant) async {
        let ticket = state.withLock { state in
            state.nextOffer += 1
            return state.nextOffer
        }
        await withDiscardingTaskGroup { group in
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                let waiting = self.state.withLock { $0.offers.removeValue(forKey: ticket) }
                waiting?.resume()
            }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.finished || state.weight == 0 || ContinuousClock.now >= deadline { return true }
                    state.offers[ticket] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            group.cancelAll()
        }
    }

    /// The weight queued now (events waiting for the writer).
    var depth: Int { state.withLock { $0.weight } }

    /// Takes everything queued, waiting for at least one element; nil once finished and empty.
    func popAll() async -> [Element]? {
        let action: PopAction = state.withLock { state in
            if !state.items.isEmpty {
                let items = state.items
                state.items = []
                state.weight = 0
                let producers = state.producers + state.offers.values
                state.producers = []
                state.offers = [:]
                return .items(items, producers)
            }
            return state.finished ? .done : .wait
        }
        switch action {
        case .items(let items, let producers):
            for producer in producers { producer.resume() }
            return items
        case .done:
            return nil
        case .wait:
            return await withCheckedContinuation { continuation in
                let immediate: [Element]?? = state.withLock { state in
                    if !state.items.isEmpty {
                        let items = state.items
                        state.items = []
                        state.weight = 0
                        return .some(items)
                    }
                    if state.finished { return .some(nil) }
                    state.consumer = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        }
    }

    /// Ends the queue: the consumer gets what is left, then nil; waiting producers are released.
    func finish() {
        let (consumer, producers): (CheckedContinuation<[Element]?, Never>?, [CheckedContinuation<Void, Never>]) =
            state.withLock { state in
                state.finished = true
                let producers = state.producers + state.offers.values
                state.producers = []
                state.offers = [:]
                guard state.items.isEmpty, let consumer = state.consumer else { return (nil, producers) }
                state.consumer = nil
                return (consumer, producers)
            }
        consumer?.resume(returning: nil)
        for producer in producers { producer.resume() }
    }
}
