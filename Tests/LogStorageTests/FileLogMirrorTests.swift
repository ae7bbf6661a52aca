import KafkaRecords
import NIOCore
import XCTest
@testable import LogStorage

/// `appendPreservingOffsets` and `advanceLogStart` (mirror topics): batches at their own offsets,
/// gaps, an empty log restarting at its first batch, and recovery of logs with gaps.
final class FileLogMirrorTests: XCTestCase {
    /// A batch as a source broker stored it: at `offset`, with the source's leader epoch.
    private func sourceBatch(
        _ tag: String, records: Int = 1, at offset: Int64, padding: Int = 0,
        codec: CompressionCodec = .none
    ) throws -> StoredBatch {
        var batch = try makeBatch(tag, records: records, padding: padding, codec: codec)
        batch.assignBaseOffset(offset)
        batch.stampLeaderEpoch(5)
        return batch
    }

    private func open(_ directory: String, config: LogConfig = LogConfig(retentionMs: -1)) throws -> FileLog {
        try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
    }

    func testBatchesAreStoredAtTheirOwnOffsetsByteForByteWithGaps() throws {
        let log = InMemoryLog(config: LogConfig(retentionMs: -1, indexIntervalBytes: 1))
        let batches = [
            try sourceBatch("a", records: 3, at: 0), try sourceBatch("b", records: 2, at: 3, codec: .lz4),
            try sourceBatch("c", at: 10), try sourceBatch("d", records: 2, at: 25, codec: .gzip)
        ]
        for batch in batches {
            let result = try log.appendPreservingOffsets(batch, now: 0)
            XCTAssertEqual(result.baseOffset, batch.header.baseOffset)
            XCTAssertEqual(result.lastOffset, batch.header.lastOffset)
        }
        XCTAssertEqual(log.logEndOffset, 27)
        XCTAssertEqual(log.logStartOffset, 0)
        XCTAssertEqual(try readAllBytes(log), batches.flatMap { bytes(of: $0.bytes) })
        let fromGap = try log.read(from: 12, maxBytes: 1 << 20, minOneBatch: true)
        XCTAssertEqual(
            try RecordBatches.split(fromGap.records, verifyCRC: true).first?.header.baseOffset, 25,
            "an offset in a gap reads from the next batch")
    }

    func testABatchBelowTheLogEndIsRefusedAndChangesNothing() throws {
        let log = InMemoryLog()
        _ = try log.appendPreservingOffsets(try sourceBatch("a", records: 5, at: 0), now: 0)
        XCTAssertThrowsError(try log.appendPreservingOffsets(try sourceBatch("b", records: 2, at: 4), now: 0)) {
            error in
            guard case .invalidBatch = error as? LogError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(log.logEndOffset, 5)
        XCTAssertEqual(try readAll(log).count, 1)
    }

    func testAnEmptyLogRestartsAtItsFirstBatch() throws {
        let directory = try makeTemporaryDirectory(self)
        let log = try open(directory)
        let first = try sourceBatch("a", records: 2, at: 1000)
        let result = try log.appendPreservingOffsets(first, now: 0)
        XCTAssertEqual(result.logStartOffset, 1000)
        XCTAssertEqual(log.logStartOffset, 1000)
        XCTAssertEqual(log.logEndOffset, 1002)
        XCTAssertEqual(try segmentFileNames(log), [segmentName(1000)], "the segment is based at the batch")
        XCTAssertThrowsError(try log.read(from: 0, maxBytes: 100, minOneBatch: true))
        try log.close()

        let reopened = try open(directory)
        XCTAssertEqual(reopened.logStartOffset, 1000)
        XCTAssertEqual(reopened.logEndOffset, 1002)
        XCTAssertEqual(try readAllBytes(reopened), bytes(of: first.bytes))
    }

    func testANewSegmentIsBasedAtTheBatchAfterAGap() throws {
        let log = InMemoryLog(config: LogConfig(segmentBytes: 200, retentionMs: -1))
        _ = try log.appendPreservingOffsets(try sourceBatch("a", at: 0, padding: 120), now: 0)
        _ = try log.appendPreservingOffsets(try sourceBatch("b", at: 50, padding: 120), now: 0)
        XCTAssertEqual(try segmentFileNames(log), [segmentName(0), segmentName(50)])
        XCTAssertEqual(try readAll(log).map(\.header.baseOffset), [0, 50])
    }

    func testAdvanceLogStartPastTheEndEmptiesTheLogAndSurvivesAReopen() throws {
        let directory = try makeTemporaryDirectory(self)
        let log = try open(directory, config: LogConfig(segmentBytes: 200, retentionMs: -1))
        for offset in stride(from: Int64(0), to: 6, by: 2) {
            _ = try log.appendPreservingOffsets(
                try sourceBatch("x\(offset)", records: 2, at: offset, padding: 100), now: 0)
        }
        XCTAssertEqual(try log.advanceLogStart(to: 3, now: 0), 3, "within the log: like DeleteRecords")
        XCTAssertEqual(log.logEndOffset, 6)
        XCTAssertEqual(try log.advanceLogStart(to: 50, now: 0), 50)
        XCTAssertEqual([log.logStartOffset, log.logEndOffset], [50, 50])
        XCTAssertEqual(try segmentFileNames(log), [segmentName(50)])
        XCTAssertEqual(try log.advanceLogStart(to: 10, now: 0), 50, "a lower offset changes nothing")
        try log.close()

        let reopened = try open(directory)
        XCTAssertEqual([reopened.logStartOffset, reopened.logEndOffset], [50, 50])
        let next = try sourceBatch("y", at: 50)
        _ = try reopened.appendPreservingOffsets(next, now: 0)
        XCTAssertEqual(try readAllBytes(reopened), bytes(of: next.bytes))
    }

    func testCrashRecoveryKeepsGapsAndTruncatesOnlyATornTail() throws {
        let directory = try makeTemporaryDirectory(self)
        let config = LogConfig(segmentBytes: 300, retentionMs: -1, indexIntervalBytes: 1)
        var batches: [StoredBatch] = []
        do {
            let log = try open(directory, config: config)
            var offset: Int64 = 100
            for number in 0..<12 {
                let batch = try sourceBatch(
                    "b\(number)", records: 1 + number % 3, at: offset, padding: 30,
                    codec: number % 2 == 0 ? .none : .lz4)
                _ = try log.appendPreservingOffsets(batch, now: 0)
                batches.append(batch)
                offset = batch.header.nextOffset + Int64(number % 4) * 7  // gaps of 0, 7, 14, 21
            }
            XCTAssertGreaterThanOrEqual(try segmentFileNames(log).count, 3)
            // No close: a crash.
        }
        let expected = batches.flatMap { bytes(of: $0.bytes) }
        let recovered = try open(directory, config: config)
        XCTAssertEqual(recovered.logStartOffset, 100)
        XCTAssertEqual(recovered.logEndOffset, batches.last!.header.nextOffset)
        XCTAssertEqual(try readAllBytes(recovered), expected, "gaps between batches are not corruption")
        let last = try XCTUnwrap(try segmentFileNames(recovered).last)
        // A torn write at the end of the last segment: only it goes.
        var lastBytes = try fileBytes(directory, last)
        lastBytes += Array(bytes(of: try sourceBatch("torn", at: 9999).bytes).prefix(40))
        try writeFile(directory, last, lastBytes)
        let again = try open(directory, config: config)
        XCTAssertEqual(again.logEndOffset, batches.last!.header.nextOffset)
        XCTAssertEqual(try readAllBytes(again), expected)
        let more = try sourceBatch("after", at: again.logEndOffset + 3)
        _ = try again.appendPreservingOffsets(more, now: 0)
        XCTAssertEqual(try readAllBytes(again), expected + bytes(of: more.bytes))
    }
}
