// Regression tests for bugs found while writing the LogStorage suite, fixed since. Each doc
// comment says what the bug was.
import KafkaRecords
import NIOCore
import XCTest
@testable import LogStorage

final class FileLogRegressionTests: XCTestCase {
    private func batch(_ tag: String) throws -> StoredBatch { try makeBatch(tag) }

    /// Bug: `deleteRecords(before: logEndOffset)` while the active segment is empty deletes that
    /// segment and "rolls" a new one at the same base offset. `Segment.open` reopens the very same
    /// files, and `Segment.remove` then unlinks them, so the new active segment writes into unlinked
    /// files: later appends are acknowledged, readable while the process runs, and gone after a
    /// restart. An empty active segment is left by a crash between a roll and the first write to
    /// the new segment (below), or by an append that failed after rolling (disk full).
    /// Fix idea: in `deleteSegments`, never doom an empty active segment (keep it as the new
    /// active one), or skip the roll when the last doomed segment is empty.
    func testAppendsAfterDeleteRecordsUpToTheEndWithAnEmptyActiveSegmentSurviveARestart() throws {
        let directory = try makeTemporaryDirectory(self)
        let config = LogConfig(segmentBytes: 2 * (try batch("0").bytes.readableBytes), retentionMs: -1)
        do {
            let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
            for number in 0..<5 { _ = try log.append(batch("\(number)"), now: 0) }
        }
        // A crash right after rolling at offset 4: the new segment's files exist but are empty.
        try writeFile(directory, segmentName(4), [])
        do {
            let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
            XCTAssertEqual(log.logEndOffset, 4)
            XCTAssertEqual(try log.deleteRecords(before: 4), 4)
            XCTAssertEqual(
                try segmentFileNames(log), [segmentName(4)], "the active segment's file is still in the directory")
            XCTAssertEqual(try log.append(batch("kept"), now: 0).baseOffset, 4)
            try log.close()
        }
        let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
        XCTAssertEqual(log.logEndOffset, 5, "the acknowledged batch at offset 4 survives the restart")
    }

    /// The same bug, reached without a crash: an append that rolls and then hits a full disk
    /// leaves the new active segment empty.
    func testAppendsAfterDeleteRecordsFollowingAFailedRollingAppendSurviveARestart() throws {
        let directory = try makeTemporaryDirectory(self)
        // With an index entry per batch, rolling writes nothing, so only the batch write fails.
        let config = LogConfig(
            segmentBytes: 2 * (try batch("0").bytes.readableBytes), retentionMs: -1, indexIntervalBytes: 1)
        let disk = WriteBudget()
        do {
            let log = try FileLog(
                fileSystem: FillingFileSystem(base: PosixFileSystem(directory: directory), budget: disk),
                config: config, now: 0, logger: quietLogger)
            for number in 0..<4 { _ = try log.append(batch("\(number)"), now: 0) }
            disk.set(0)
            XCTAssertThrowsError(try log.append(batch("rolls, then fails"), now: 0))
            disk.set(nil)
            XCTAssertEqual(try segmentFileNames(log).last, segmentName(4), "the failed append rolled first")
            XCTAssertEqual(try log.deleteRecords(before: 4), 4)
            XCTAssertEqual(try log.append(batch("kept"), now: 0).baseOffset, 4)
            try log.close()
        }
        let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
        XCTAssertEqual(log.logEndOffset, 5, "the acknowledged batch at offset 4 survives the restart")
    }

    /// Bug: recovery clamps the log start offset to the recovered log end but does not persist the
    /// clamped value. With `FlushPolicy.interval`, DeleteRecords can persist a start offset above
    /// data that a power loss then takes away; batches appended after that restart get offsets
    /// below the stale persisted start, and the next restart hides them (logStartOffset jumps back
    /// to the stale value), although they were acknowledged.
    /// Fix idea: when recovery lowers the start offset, write it back with `persistLogStart`.
    func testBatchesAppendedBelowAStalePersistedLogStartStayVisibleAfterAnotherRestart() throws {
        let directory = try makeTemporaryDirectory(self)
        let size = try batch("0").bytes.readableBytes
        let config = LogConfig(segmentBytes: 4 * size, retentionMs: -1)
        do {
            let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
            for number in 0..<8 { _ = try log.append(batch("\(number)"), now: 0) }  // segments at 0 and 4
            XCTAssertEqual(try log.deleteRecords(before: 7), 7)
        }
        // Power loss: the unsynced offsets 6 and 7 never reached the disk; log-start-offset (7) did.
        let segment = try fileBytes(directory, segmentName(4))
        try writeFile(directory, segmentName(4), Array(segment.prefix(2 * size)))
        do {
            let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
            XCTAssertEqual(log.logEndOffset, 6)
            XCTAssertEqual(log.logStartOffset, 6)
            XCTAssertEqual(try log.append(batch("acknowledged"), now: 0).baseOffset, 6)
            try log.close()
        }
        let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
        XCTAssertEqual(log.logEndOffset, 7)
        XCTAssertEqual(log.logStartOffset, 6, "offset 6 was appended and acknowledged after the first restart")
        XCTAssertNoThrow(try log.read(from: 6, maxBytes: 1 << 20, minOneBatch: true))
    }

    /// Discrepancy: `LogConfig.segmentMs` is documented as "roll when the active segment received
    /// its first batch longer ago than this" (Kafka also rolls only when the time waited is
    /// greater than segment.ms), but `FileLog.shouldRoll` uses `>=`, rolling exactly at segmentMs.
    /// Fix: `now - first > config.segmentMs`.
    func testASegmentRollsOnlyWhenItsFirstAppendIsMoreThanSegmentMsAgo() throws {
        let log = InMemoryLog(config: LogConfig(segmentMs: 1_000, retentionMs: -1), now: 0)
        _ = try log.append(batch("0"), now: 0)
        _ = try log.append(batch("1"), now: 1_000)
        XCTAssertEqual(try segmentFileNames(log), [segmentName(0)], "exactly segmentMs ago is not longer ago")
    }
}
