import KafkaRecords
import XCTest
@testable import LogStorage

/// When a FileLog fsyncs, observed through a file system that records every fsync.
final class FileLogFlushPolicyTests: XCTestCase {
    private let syncs = SyncLog()

    private func open(_ policy: FlushPolicy, segmentBytes: Int = 1 << 20) throws -> FileLog {
        let fileSystem = FillingFileSystem(
            base: PosixFileSystem(directory: try makeTemporaryDirectory(self)), budget: WriteBudget(), syncs: syncs)
        let log = try FileLog(
            fileSystem: fileSystem, config: LogConfig(segmentBytes: segmentBytes, retentionMs: -1, flushPolicy: policy),
            now: 0, logger: quietLogger)
        _ = syncs.drain()
        return log
    }

    private func append(_ log: FileLog, now: Int64) throws {
        _ = try log.append(makeBatch("b"), now: now)
    }

    func testEveryBatchPolicySyncsTheSegmentBeforeAppendReturns() throws {
        let log = try open(.everyBatch)
        try append(log, now: 0)
        XCTAssertEqual(syncs.drain(), [segmentName(0)])
        try append(log, now: 0)
        XCTAssertEqual(syncs.drain(), [segmentName(0)])
    }

    func testIntervalPolicyNeverSyncsOnTheAppendPath() throws {
        let log = try open(.interval(milliseconds: 1_000))
        try append(log, now: 10)
        try append(log, now: 5_000)
        XCTAssertEqual(syncs.drain(), [], "the owner's timer calls flush(); appends never wait for an fsync")
    }

    func testFlushSyncsTheActiveSegmentAndCloseSyncsEverything() throws {
        let log = try open(.interval(milliseconds: 1_000))
        try append(log, now: 0)
        try log.flush()
        XCTAssertEqual(syncs.drain().filter { $0.hasSuffix(".log") }, [segmentName(0)])
        try log.close()
        XCTAssertTrue(syncs.drain().contains(segmentName(0)))
        try log.flush()
        XCTAssertEqual(syncs.drain(), [], "a closed log has nothing to flush")
    }

    func testRollingSyncsTheSegmentItLeaves() throws {
        let size = try makeBatch("b").bytes.readableBytes
        let log = try open(.interval(milliseconds: 1_000), segmentBytes: size)
        try append(log, now: 0)
        XCTAssertEqual(syncs.drain(), [])
        try append(log, now: 0)
        XCTAssertTrue(syncs.drain().contains(segmentName(0)), "the old segment is durable once it stops being active")
    }
}
