import KafkaRecords
import NIOCore
import XCTest
@testable import LogStorage

/// Behaviours every `PartitionLog` shows, written once and run against `FileLog` (a temporary
/// directory) and `InMemoryLog` by the two test classes below.
struct PartitionLogContract {
    /// Opens an empty log with `config`, its clock at 0.
    let makeLog: (LogConfig) throws -> any PartitionLog

    /// Batch `number` of a test: one record (or `records`), tagged so every batch differs, all the
    /// same size for the same `records` and `padding`.
    func batch(_ number: Int, records: Int = 1, timestamp: Int64 = 1_000, padding: Int = 0) throws -> StoredBatch {
        let digits = String(number)
        return try makeBatch(
            "batch-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits,
            records: records, timestamp: timestamp, padding: padding)
    }

    /// A config whose segments hold exactly `batches` batches of `batch(_:records:)`.
    func config(
        segmentOf batches: Int, records: Int = 1, retentionMs: Int64 = -1, retentionBytes: Int64 = -1,
        indexIntervalBytes: Int = 4096
    ) throws -> LogConfig {
        let size = try batch(0, records: records).bytes.readableBytes
        return LogConfig(
            segmentBytes: size * batches, retentionMs: retentionMs, retentionBytes: retentionBytes,
            indexIntervalBytes: indexIntervalBytes)
    }

    /// Appends batches 0..<count (each `records` records, timestamps from `timestamps`) at `now`.
    @discardableResult
    func append(_ count: Int, records: Int = 1, timestamps: [Int64]? = nil, to log: any PartitionLog, now: Int64 = 0)
        throws -> [StoredBatch]
    {
        var appended: [StoredBatch] = []
        for number in 0..<count {
            let batch = try batch(number, records: records, timestamp: timestamps?[number] ?? 1_000)
            let result = try log.append(batch, now: now)
            var copy = batch
            copy.assignBaseOffset(result.baseOffset)
            appended.append(copy)
        }
        return appended
    }

    func expectOutOfRange(
        _ log: any PartitionLog, _ offset: Int64, start: Int64, end: Int64,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try log.read(from: offset, maxBytes: 1 << 20, minOneBatch: true), file: file, line: line) {
            error in
            XCTAssertEqual(
                error as? LogError, .offsetOutOfRange(requested: offset, logStart: start, logEnd: end), file: file,
                line: line)
        }
    }

    // MARK: Append and read

    func appendAssignsOffsetsFromZero() throws {
        let log = try makeLog(LogConfig())
        XCTAssertEqual(log.logEndOffset, 0)
        XCTAssertEqual(
            try log.append(batch(0, records: 1), now: 0), AppendResult(baseOffset: 0, lastOffset: 0, logStartOffset: 0))
        XCTAssertEqual(
            try log.append(batch(1, records: 3), now: 0), AppendResult(baseOffset: 1, lastOffset: 3, logStartOffset: 0))
        XCTAssertEqual(
            try log.append(batch(2, records: 2), now: 0), AppendResult(baseOffset: 4, lastOffset: 5, logStartOffset: 0))
        XCTAssertEqual(log.logEndOffset, 6)
        XCTAssertEqual(log.logStartOffset, 0)
    }

    func storedBytesDifferOnlyInTheBaseOffset() throws {
        let log = try makeLog(LogConfig())
        let batches = [
            try batch(0, records: 2), try batch(1, records: 5), try makeBatch("zstd", records: 4, codec: .zstd)
        ]
        for batch in batches { _ = try log.append(batch, now: 0) }
        let read = try log.read(from: 0, maxBytes: 1 << 20, minOneBatch: false)
        XCTAssertEqual(
            bytes(of: read.records), stored(batches[0], at: 0) + stored(batches[1], at: 2) + stored(batches[2], at: 7))
        XCTAssertEqual(read.logStartOffset, 0)
        XCTAssertEqual(read.logEndOffset, 11)
        XCTAssertEqual(log.sizeInBytes, Int64(batches.reduce(0) { $0 + $1.bytes.readableBytes }))
        // Appending does not disturb the caller's buffer.
        XCTAssertEqual(batches[1].header.baseOffset, 0)
    }

    func readFromTheMiddleOfABatchReturnsTheWholeBatch() throws {
        let log = try makeLog(LogConfig(indexIntervalBytes: 1))
        let appended = try append(4, records: 3, to: log)
        for offset: Int64 in 0..<12 {
            let read = try log.read(from: offset, maxBytes: appended[0].bytes.readableBytes, minOneBatch: false)
            XCTAssertEqual(bytes(of: read.records), bytes(of: appended[Int(offset / 3)].bytes), "offset \(offset)")
        }
    }

    func maxBytesReturnsOnlyWholeBatches() throws {
        let log = try makeLog(LogConfig())
        let appended = try append(3, to: log)
        let size = appended[0].bytes.readableBytes
        func batchesRead(maxBytes: Int) throws -> [Int64] {
            try RecordBatches.split(log.read(from: 0, maxBytes: maxBytes, minOneBatch: false).records, verifyCRC: true)
                .map(\.header.baseOffset)
        }
        XCTAssertEqual(try batchesRead(maxBytes: size), [0])
        XCTAssertEqual(try batchesRead(maxBytes: 2 * size - 1), [0])
        XCTAssertEqual(try batchesRead(maxBytes: 2 * size), [0, 1])
        XCTAssertEqual(try batchesRead(maxBytes: 3 * size + 100), [0, 1, 2])
    }

    func anOversizedFirstBatchNeedsMinOneBatch() throws {
        let log = try makeLog(LogConfig())
        let appended = try append(2, to: log)
        let small = appended[0].bytes.readableBytes - 1
        let withMinOne = try log.read(from: 0, maxBytes: small, minOneBatch: true)
        XCTAssertEqual(bytes(of: withMinOne.records), bytes(of: appended[0].bytes), "exactly the first batch, not more")
        let without = try log.read(from: 0, maxBytes: small, minOneBatch: false)
        XCTAssertEqual(without.records.readableBytes, 0)
        XCTAssertEqual(without.logEndOffset, 2)
        XCTAssertEqual(try log.read(from: 1, maxBytes: 0, minOneBatch: false).records.readableBytes, 0)
    }

    func readingAtTheLogEndGivesNothing() throws {
        let log = try makeLog(LogConfig())
        XCTAssertEqual(
            try log.read(from: 0, maxBytes: 1 << 20, minOneBatch: true).records.readableBytes, 0, "empty log")
        try append(2, records: 2, to: log)
        let atEnd = try log.read(from: 4, maxBytes: 1 << 20, minOneBatch: true)
        XCTAssertEqual(atEnd.records.readableBytes, 0)
        XCTAssertEqual(atEnd.logEndOffset, 4)
    }

    func readingOutsideTheLogThrowsOffsetOutOfRange() throws {
        let log = try makeLog(LogConfig())
        expectOutOfRange(log, 1, start: 0, end: 0)
        try append(2, records: 2, to: log)
        expectOutOfRange(log, 5, start: 0, end: 4)
        expectOutOfRange(log, -1, start: 0, end: 4)
        expectOutOfRange(log, .max, start: 0, end: 4)
    }

    func aClosedLogRefusesAppendsAndReads() throws {
        let log = try makeLog(LogConfig())
        try append(1, to: log)
        try log.close()
        XCTAssertThrowsError(try log.append(batch(1), now: 0)) { XCTAssertEqual($0 as? LogError, .closed) }
        XCTAssertThrowsError(try log.read(from: 0, maxBytes: 100, minOneBatch: true)) {
            XCTAssertEqual($0 as? LogError, .closed)
        }
        XCTAssertNoThrow(try log.close(), "closing twice is harmless")
    }

    // MARK: Segments

    func segmentsRollBySizeAndAreNamedByBaseOffset() throws {
        let log = try makeLog(try config(segmentOf: 2, records: 2))
        let appended = try append(5, records: 2, to: log)
        if log is FileLog {
            XCTAssertEqual(try segmentFileNames(log), [segmentName(0), segmentName(4), segmentName(8)])
            XCTAssertEqual(segmentName(4), "00000000000000000004.log")
        }
        XCTAssertEqual(try readAllBytes(log), appended.flatMap { bytes(of: $0.bytes) })
        // Each read stays within one segment and returns the batch holding the offset.
        for offset: Int64 in 0..<10 {
            let first = try RecordBatches.split(
                log.read(from: offset, maxBytes: 1 << 20, minOneBatch: true).records, verifyCRC: true
            ).first
            XCTAssertEqual(first?.header.baseOffset, offset / 2 * 2, "offset \(offset)")
        }
    }

    func segmentsRollByTime() throws {
        var config = LogConfig(segmentMs: 1_000)
        config.retentionMs = -1
        let log = try makeLog(config)
        // Rolls once the active segment's first append is more than segmentMs ago.
        for (number, now) in [0, 500, 1_001, 2_000, 2_002].enumerated() {
            _ = try log.append(batch(number), now: Int64(now))
        }
        XCTAssertEqual(try segmentFileNames(log), [segmentName(0), segmentName(2), segmentName(4)])
        XCTAssertEqual(try readAll(log).map(\.header.baseOffset), [0, 1, 2, 3, 4])
    }

    func updatedConfigAppliesToTheNextAppend() throws {
        let log = try makeLog(LogConfig())
        try append(2, to: log)
        var smaller = log.config
        smaller.segmentBytes = 1
        log.updateConfig(smaller)
        XCTAssertEqual(log.config.segmentBytes, 1)
        _ = try log.append(batch(2), now: 0)
        _ = try log.append(batch(3), now: 0)
        XCTAssertEqual(try segmentFileNames(log), [segmentName(0), segmentName(2), segmentName(3)])
    }

    // MARK: Retention and DeleteRecords

    func timeRetentionDeletesOldSegmentsAndAdvancesTheLogStart() throws {
        let log = try makeLog(try config(segmentOf: 2, retentionMs: 1_000))
        try append(5, timestamps: [100, 200, 5_000, 5_100, 9_000], to: log)
        XCTAssertEqual(
            try log.enforceRetention(now: 1_200), 0, "the newest timestamp of segment 0 is exactly 1000 ms old")
        XCTAssertEqual(try log.enforceRetention(now: 1_201), 1)
        XCTAssertEqual(log.logStartOffset, 2)
        expectOutOfRange(log, 1, start: 2, end: 5)
        XCTAssertEqual(try log.enforceRetention(now: 6_101), 1)
        XCTAssertEqual(log.logStartOffset, 4)
        XCTAssertEqual(try readAll(log).map(\.header.baseOffset), [4])
        if log is FileLog { XCTAssertEqual(try segmentFileNames(log), [segmentName(4)]) }

        // Even the active segment goes once it is old; appends continue at the same offset.
        XCTAssertEqual(try log.enforceRetention(now: 10_001), 1)
        XCTAssertEqual(log.logStartOffset, 5)
        XCTAssertEqual(log.logEndOffset, 5)
        XCTAssertEqual(try log.read(from: 5, maxBytes: 1 << 20, minOneBatch: true).records.readableBytes, 0)
        XCTAssertEqual(try log.append(batch(9, timestamp: 10_000), now: 10_001).baseOffset, 5)
    }

    func sizeRetentionKeepsTheLogAtLeastRetentionBytes() throws {
        let segmentBytes = try config(segmentOf: 2).segmentBytes
        let log = try makeLog(try config(segmentOf: 2, retentionBytes: Int64(2 * segmentBytes)))
        try append(9, to: log)  // four full segments and one batch in the active one
        XCTAssertEqual(log.sizeInBytes, Int64(9 * segmentBytes / 2))
        XCTAssertEqual(try log.enforceRetention(now: 0), 2)
        XCTAssertEqual(log.logStartOffset, 4)
        XCTAssertEqual(log.sizeInBytes, Int64(5 * segmentBytes / 2))
        XCTAssertEqual(try log.enforceRetention(now: 0), 0, "another segment would leave less than retention.bytes")
        XCTAssertEqual(try readAll(log).map(\.header.baseOffset), [4, 5, 6, 7, 8])
    }

    func deleteRecordsRaisesTheLogStartAndDropsWholeSegmentsBelowIt() throws {
        let log = try makeLog(try config(segmentOf: 2, records: 2))
        let appended = try append(5, records: 2, to: log)  // segments at 0, 4, 8
        XCTAssertEqual(try log.deleteRecords(before: 5), 5)
        XCTAssertEqual(log.logStartOffset, 5)
        if log is FileLog { XCTAssertEqual(try segmentFileNames(log), [segmentName(4), segmentName(8)]) }
        expectOutOfRange(log, 4, start: 5, end: 10)
        // The batch holding the new start is still served whole.
        let read = try log.read(from: 5, maxBytes: appended[2].bytes.readableBytes, minOneBatch: true)
        XCTAssertEqual(bytes(of: read.records), bytes(of: appended[2].bytes))
        XCTAssertEqual(read.logStartOffset, 5)
        XCTAssertEqual(try log.append(batch(9), now: 0).logStartOffset, 5)
    }

    func deleteRecordsBelowTheStartChangesNothingAndAboveTheEndThrows() throws {
        let log = try makeLog(LogConfig())
        try append(3, to: log)
        XCTAssertEqual(try log.deleteRecords(before: 2), 2)
        XCTAssertEqual(try log.deleteRecords(before: 1), 2)
        XCTAssertEqual(log.logStartOffset, 2)
        XCTAssertThrowsError(try log.deleteRecords(before: 4)) { error in
            XCTAssertEqual(error as? LogError, .offsetOutOfRange(requested: 4, logStart: 2, logEnd: 3))
        }
        XCTAssertEqual(try log.deleteRecords(before: 3), 3, "up to the log end is allowed")
        XCTAssertEqual(log.logStartOffset, 3)
        XCTAssertEqual(try log.append(batch(3), now: 0).baseOffset, 3)
        XCTAssertEqual(try readAll(log).map(\.header.baseOffset), [3])
    }

    // MARK: Timestamps and headers

    func firstBatchWithMaxTimestampAtLeastSearchesAcrossSegments() throws {
        for interval in [1, 4096] {
            let log = try makeLog(try config(segmentOf: 2, indexIntervalBytes: interval))
            // Segments: {100, 300}, {200, 500}, {400, 600}.
            let appended = try append(6, timestamps: [100, 300, 200, 500, 400, 600], to: log)
            func found(_ timestamp: Int64) throws -> Int64? {
                try log.firstBatch(withMaxTimestampAtLeast: timestamp).map { batch in
                    XCTAssertEqual(bytes(of: batch.bytes), bytes(of: appended[Int(batch.header.baseOffset)].bytes))
                    return batch.header.baseOffset
                }
            }
            XCTAssertEqual(try found(0), 0, "index interval \(interval)")
            XCTAssertEqual(try found(100), 0)
            XCTAssertEqual(try found(101), 1)
            XCTAssertEqual(try found(250), 1)
            XCTAssertEqual(try found(301), 3, "the 200 batch is too old, the 500 one is first")
            XCTAssertEqual(try found(450), 3)
            XCTAssertEqual(try found(501), 5)
            XCTAssertEqual(try found(600), 5)
            XCTAssertNil(try found(601))
            _ = try log.deleteRecords(before: 2)
            XCTAssertEqual(try found(0), 2, "batches below the log start are not offered")
        }
    }

    func maxTimestampAndOffsetIsTheFirstBatchWithTheLargestTimestamp() throws {
        let log = try makeLog(try config(segmentOf: 2, records: 2))
        XCTAssertNil(log.maxTimestampAndOffset())
        try append(5, records: 2, timestamps: [100, 700, 300, 700, 200], to: log)
        let max = try XCTUnwrap(log.maxTimestampAndOffset())
        XCTAssertEqual(max.timestamp, 700)
        XCTAssertEqual(max.offset, 3, "the last offset of batch 1 (offsets 2 and 3)")
    }

    func batchHeadersStartAtTheBatchHoldingTheOffset() throws {
        let log = try makeLog(try config(segmentOf: 2, records: 2))
        let appended = try append(5, records: 2, to: log)
        XCTAssertEqual(try log.batchHeaders(from: 0), appended.map(\.header))
        XCTAssertEqual(try log.batchHeaders(from: 3).map(\.baseOffset), [2, 4, 6, 8])
        XCTAssertEqual(try log.batchHeaders(from: 4).map(\.baseOffset), [4, 6, 8])
        XCTAssertEqual(try log.batchHeaders(from: 9).map(\.baseOffset), [8])
        XCTAssertEqual(try log.batchHeaders(from: 10), [])
    }
}

/// The contract, run against a FileLog in a temporary directory.
final class FileLogContractTests: XCTestCase {
    private var contract: PartitionLogContract {
        PartitionLogContract { config in
            try FileLog.open(directory: makeTemporaryDirectory(self), config: config, now: 0, logger: quietLogger)
        }
    }

    func testAppendAssignsOffsetsFromZero() throws { try contract.appendAssignsOffsetsFromZero() }
    func testStoredBytesDifferOnlyInTheBaseOffset() throws { try contract.storedBytesDifferOnlyInTheBaseOffset() }
    func testReadFromTheMiddleOfABatchReturnsTheWholeBatch() throws {
        try contract.readFromTheMiddleOfABatchReturnsTheWholeBatch()
    }
    func testMaxBytesReturnsOnlyWholeBatches() throws { try contract.maxBytesReturnsOnlyWholeBatches() }
    func testAnOversizedFirstBatchNeedsMinOneBatch() throws { try contract.anOversizedFirstBatchNeedsMinOneBatch() }
    func testReadingAtTheLogEndGivesNothing() throws { try contract.readingAtTheLogEndGivesNothing() }
    func testReadingOutsideTheLogThrowsOffsetOutOfRange() throws {
        try contract.readingOutsideTheLogThrowsOffsetOutOfRange()
    }
    func testAClosedLogRefusesAppendsAndReads() throws { try contract.aClosedLogRefusesAppendsAndReads() }
    func testSegmentsRollBySizeAndAreNamedByBaseOffset() throws {
        try contract.segmentsRollBySizeAndAreNamedByBaseOffset()
    }
    func testSegmentsRollByTime() throws { try contract.segmentsRollByTime() }
    func testUpdatedConfigAppliesToTheNextAppend() throws { try contract.updatedConfigAppliesToTheNextAppend() }
    func testTimeRetentionDeletesOldSegmentsAndAdvancesTheLogStart() throws {
        try contract.timeRetentionDeletesOldSegmentsAndAdvancesTheLogStart()
    }
    func testSizeRetentionKeepsTheLogAtLeastRetentionBytes() throws {
        try contract.sizeRetentionKeepsTheLogAtLeastRetentionBytes()
    }
    func testDeleteRecordsRaisesTheLogStartAndDropsWholeSegmentsBelowIt() throws {
        try contract.deleteRecordsRaisesTheLogStartAndDropsWholeSegmentsBelowIt()
    }
    func testDeleteRecordsBelowTheStartChangesNothingAndAboveTheEndThrows() throws {
        try contract.deleteRecordsBelowTheStartChangesNothingAndAboveTheEndThrows()
    }
    func testFirstBatchWithMaxTimestampAtLeastSearchesAcrossSegments() throws {
        try contract.firstBatchWithMaxTimestampAtLeastSearchesAcrossSegments()
    }
    func testMaxTimestampAndOffsetIsTheFirstBatchWithTheLargestTimestamp() throws {
        try contract.maxTimestampAndOffsetIsTheFirstBatchWithTheLargestTimestamp()
    }
    func testBatchHeadersStartAtTheBatchHoldingTheOffset() throws {
        try contract.batchHeadersStartAtTheBatchHoldingTheOffset()
    }
}

/// The same contract, run against the in-memory log the broker tests use.
final class InMemoryLogContractTests: XCTestCase {
    private let contract = PartitionLogContract { config in InMemoryLog(config: config, now: 0) }

    func testAppendAssignsOffsetsFromZero() throws { try contract.appendAssignsOffsetsFromZero() }
    func testStoredBytesDifferOnlyInTheBaseOffset() throws { try contract.storedBytesDifferOnlyInTheBaseOffset() }
    func testReadFromTheMiddleOfABatchReturnsTheWholeBatch() throws {
        try contract.readFromTheMiddleOfABatchReturnsTheWholeBatch()
    }
    func testMaxBytesReturnsOnlyWholeBatches() throws { try contract.maxBytesReturnsOnlyWholeBatches() }
    func testAnOversizedFirstBatchNeedsMinOneBatch() throws { try contract.anOversizedFirstBatchNeedsMinOneBatch() }
    func testReadingAtTheLogEndGivesNothing() throws { try contract.readingAtTheLogEndGivesNothing() }
    func testReadingOutsideTheLogThrowsOffsetOutOfRange() throws {
        try contract.readingOutsideTheLogThrowsOffsetOutOfRange()
    }
    func testAClosedLogRefusesAppendsAndReads() throws { try contract.aClosedLogRefusesAppendsAndReads() }
    func testSegmentsRollBySizeAndAreNamedByBaseOffset() throws {
        try contract.segmentsRollBySizeAndAreNamedByBaseOffset()
    }
    func testSegmentsRollByTime() throws { try contract.segmentsRollByTime() }
    func testUpdatedConfigAppliesToTheNextAppend() throws { try contract.updatedConfigAppliesToTheNextAppend() }
    func testTimeRetentionDeletesOldSegmentsAndAdvancesTheLogStart() throws {
        try contract.timeRetentionDeletesOldSegmentsAndAdvancesTheLogStart()
    }
    func testSizeRetentionKeepsTheLogAtLeastRetentionBytes() throws {
        try contract.sizeRetentionKeepsTheLogAtLeastRetentionBytes()
    }
    func testDeleteRecordsRaisesTheLogStartAndDropsWholeSegmentsBelowIt() throws {
        try contract.deleteRecordsRaisesTheLogStartAndDropsWholeSegmentsBelowIt()
    }
    func testDeleteRecordsBelowTheStartChangesNothingAndAboveTheEndThrows() throws {
        try contract.deleteRecordsBelowTheStartChangesNothingAndAboveTheEndThrows()
    }
    func testFirstBatchWithMaxTimestampAtLeastSearchesAcrossSegments() throws {
        try contract.firstBatchWithMaxTimestampAtLeastSearchesAcrossSegments()
    }
    func testMaxTimestampAndOffsetIsTheFirstBatchWithTheLargestTimestamp() throws {
        try contract.maxTimestampAndOffsetIsTheFirstBatchWithTheLargestTimestamp()
    }
    func testBatchHeadersStartAtTheBatchHoldingTheOffset() throws {
        try contract.batchHeadersStartAtTheBatchHoldingTheOffset()
    }
}
