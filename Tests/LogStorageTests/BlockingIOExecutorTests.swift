import Foundation
import KafkaRecords
import LogStorage
import XCTest

final class BlockingIOExecutorTests: XCTestCase {
    func testWorkRunsOnTheExecutorNotOnTheCooperativePool() async {
        XCTAssertFalse(BlockingIOThreads.currentMayBlock, "an async test body runs on the cooperative pool")
        let onExecutor = await BlockingIOExecutor.shared.run { BlockingIOThreads.currentMayBlock }
        XCTAssertTrue(onExecutor)
        XCTAssertFalse(BlockingIOThreads.currentMayBlock, "back on the cooperative pool afterwards")
    }

    func testAsyncCodeUnderThePreferenceStaysOnTheExecutorAcrossSuspensions() async throws {
        let executor = BlockingIOExecutor(threads: 1, name: "test-io")
        let threads = try await withTaskExecutorPreference(executor) { () async throws -> [Bool] in
            var seen = [BlockingIOThreads.currentMayBlock]
            try await Task.sleep(for: .milliseconds(5))
            seen.append(BlockingIOThreads.currentMayBlock)
            return seen
        }
        XCTAssertEqual(threads, [true, true])
    }

    func testErrorsComeBackTyped() async {
        do {
            try await BlockingIOExecutor.shared.run { () throws(LogError) in throw LogError.closed }
            XCTFail("expected the error")
        } catch {
            XCTAssertEqual(error, .closed)
        }
    }

    func testTheAppendLockIsHeldForTheWholeBody() throws {
        let log = InMemoryLog()
        let batch = makeNumberedBatch(1, count: 1)
        let appended = try log.withAppendLock { writer throws(LogError) -> [Int64] in
            // Another appender waits for the lock: the end read here is the end written at.
            let other = Thread { _ = try? log.append(batch, now: 0) }
            other.start()
            Thread.sleep(forTimeInterval: 0.05)
            XCTAssertEqual(log.logEndOffset, 0, "the other append is still waiting")
            return [try writer.append(batch, now: 0).baseOffset, try writer.append(batch, now: 0).baseOffset]
        }
        XCTAssertEqual(appended, [0, 1])
        let deadline = Date().addingTimeInterval(5)
        while log.logEndOffset < 3, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertEqual(log.logEndOffset, 3, "the waiting append went in after the lock was let go")
    }
}
