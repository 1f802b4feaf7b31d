import Foundation

/// `transform` applied to every element on all cores, in the input's order; nil where it
/// gave nil. Each worker takes every n-th element; no more workers than `items.count /
/// perWorker` (so small inputs stay on one thread). For CPU-bound work such as decoding
/// many run records.
func parallelMap<Element: Sendable, Result: Sendable>(
    _ items: [Element], perWorker: Int, _ transform: @Sendable (Element) -> Result?
) -> [Result?] {
    let slots = Slots<Result>(count: items.count)
    let workers = min(max(1, items.count / max(1, perWorker)), ProcessInfo.processInfo.activeProcessorCount)
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        for index in stride(from: worker, to: items.count, by: workers) {
            slots.set(index, transform(items[index]))
        }
    }
    return slots.values
}

/// Slots filled from several threads, one writer per slot.
private final class Slots<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Value?]

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Value?) {
        lock.lock()
        values[index] = value
        lock.unlock()
    }
}
