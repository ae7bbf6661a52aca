#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation
import NIOCore

/// A task executor with threads of its own, for work that makes blocking system calls (pwritev,
/// fdatasync, file creation, pread). Swift's cooperative pool has one thread per core: a task
/// blocked there in a slow fsync takes a whole core's worth of tasks with it. Code that may block
/// runs under `withTaskExecutorPreference(BlockingIOExecutor.shared)` instead (or in `run`), so a
/// slow disk holds up only the requests that wait for it.
///
/// Jobs run first come, first served on any free thread; the threads live as long as the process.
public final class BlockingIOExecutor: TaskExecutor, @unchecked Sendable {
    /// The process's executor for blocking file I/O. Four threads: blocked threads use no CPU,
    /// so a few more than the two cores keep requests moving while one waits for the disk.
    public static let shared = BlockingIOExecutor(threads: 4, name: "strait-blocking-io")

    private let condition = NSCondition()
    /// Guarded by `condition`.
    private var jobs = CircularBuffer<UnownedJob>(initialCapacity: 64)

    public init(threads: Int, name: String) {
        precondition(threads > 0, "a BlockingIOExecutor needs at least one thread")
        for index in 0..<threads {
            let thread = Thread { [unowned self] in
                BlockingIOThreads.markCurrent()
                self.work()
            }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` (synchronous, may block) on one of this executor's threads and returns its result.
    public func run<T, Failure: Error>(_ body: () throws(Failure) -> T) async throws(Failure) -> T {
        try await withTaskExecutorPreference(self) { () async throws(Failure) -> T in try body() }
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// Which threads may block: the debug check behind every blocking write and fsync of LogStorage.
public enum BlockingIOThreads {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    static func markCurrent() { pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1)) }

    /// True on a `BlockingIOExecutor` thread and on any thread that is not running a Swift task
    /// (the main thread, a DispatchQueue, NIO's event loops); false on the cooperative pool, or on
    /// any other executor's thread while it runs a task.
    public static var currentMayBlock: Bool {
        pthread_getspecific(key) != nil || withUnsafeCurrentTask { $0 == nil }
    }

    /// Whether the current task is one of the broker's serving tasks (set by `BrokerService.run`
    /// and around every request): in those, debug builds check every blocking call. Tests that
    /// drive the storage synchronously from their own async bodies are not checked.
    @TaskLocal public static var checked = false

    /// Debug builds stop here when a serving task is about to block on the cooperative pool.
    @inlinable
    public static func assertMayBlock(
        _ call: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line
    ) {
        assert(
            !checked || currentMayBlock, "\(call()) on the cooperative pool: run it on BlockingIOExecutor.shared",
            file: file, line: line)
    }
}
