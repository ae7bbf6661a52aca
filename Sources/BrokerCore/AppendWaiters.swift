import Foundation

/// A one-shot wake-up for a long-polling fetch: fired by the first append to any watched
/// partition, or by the fetch's own timeout, whichever comes first.
final class FetchWakeup: @unchecked Sendable {
    private let lock = NSLock()
    private var fired = false
    private var continuation: CheckedContinuation<Void, Never>?

    func fire() {
        let waiting: CheckedContinuation<Void, Never>? = lock.withLock {
            guard !fired else { return nil }
            fired = true
            defer { continuation = nil }
            return continuation
        }
        waiting?.resume()
    }

    /// Returns once `fire()` has been called (at once if it already was).
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = lock.withLock {
                if fired { return true }
                self.continuation = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}

/// The fetches currently waiting for data on one partition.
final class AppendWatchers: @unchecked Sendable {
    private let lock = NSLock()
    private var wakeups: [ObjectIdentifier: FetchWakeup] = [:]

    func add(_ wakeup: FetchWakeup) { lock.withLock { wakeups[ObjectIdentifier(wakeup)] = wakeup } }
    func remove(_ wakeup: FetchWakeup) { _ = lock.withLock { wakeups.removeValue(forKey: ObjectIdentifier(wakeup)) } }

    /// Called after every append: wakes and forgets every waiting fetch.
    func notifyAppend() {
        let woken: [FetchWakeup] = lock.withLock {
            guard !wakeups.isEmpty else { return [] }
            defer { wakeups.removeAll(keepingCapacity: true) }
            return Array(wakeups.values)
        }
        for wakeup in woken { wakeup.fire() }
    }
}
