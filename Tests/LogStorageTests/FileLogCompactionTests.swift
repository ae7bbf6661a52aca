import Foundation
import KafkaRecords
import Logging
import NIOCore
import Synchronization
import XCTest
@testable import LogStorage

// Compaction, told as transcripts: the log's records as "offset key=value" lines before and after
// a pass. A segment is a group of batches appended at one `now`; the last group stays active.

/// A batch of keyed records; a nil value is a tombstone, a nil key a keyless record.
func keyedBatch(
    _ pairs: [(String?, String?)], timestamp: Int64 = 1_000, codec: CompressionCodec = .none,
    producerId: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1
) throws -> StoredBatch {
    var builder = RecordBatchBuilder(
        codec: codec, producerId: producerId, producerEpoch: producerEpoch, baseSequence: baseSequence)
    for (index, (key, value)) in pairs.enumerated() {
        builder.append(
            key: key.map { Array($0.utf8) }, value: value.map { Array($0.utf8) }, timestamp: timestamp + Int64(index))
    }
    return try builder.build()
}

func put(_ key: String, _ value: String?, timestamp: Int64 = 1_000, codec: CompressionCodec = .none) throws
    -> StoredBatch
{
    try keyedBatch([(key, value)], timestamp: timestamp, codec: codec)
}

/// Every record of the log as "offset key=value" ("key=nil" for a tombstone), decoding each batch.
func transcript(_ log: any PartitionLog, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
    try readAll(log, file: file, line: line).flatMap { batch in
        try RecordBatchDecoder.records(in: batch).map { record in
            let key = record.key.map { String(decoding: $0, as: UTF8.self) } ?? "<none>"
            let value = record.value.map { String(decoding: $0, as: UTF8.self) } ?? "nil"
            return "\(record.offset) \(key)=\(value)"
        }
    }
}

let compactConfig = LogConfig(segmentBytes: 1 << 20, segmentMs: 10, retentionMs: -1, indexIntervalBytes: 1)

/// A log whose segments hold the given batch groups (rolled by segment.ms: group i goes in at
/// now = 100 * i); the last group is the active segment.
func makeCompactedTopicLog(
    _ groups: [[StoredBatch]], fileSystem: any LogFileSystem = MemoryFileSystem(),
    config: LogConfig = compactConfig
) throws -> FileLog {
    let log = try FileLog(fileSystem: fileSystem, config: config, now: 0, logger: quietLogger)
    for (index, group) in groups.enumerated() {
        for batch in group { _ = try log.append(batch, now: Int64(index) * 100) }
    }
    return log
}

final class FileLogCompactionTests: XCTestCase {
    let options = CompactionOptions(deleteRetentionMs: 500, minCompactionLagMs: 0, minCleanableDirtyRatio: 0.5)

    func testOnlyTheLatestValueOfEachKeySurvivesAndOffsetsDoNotMove() throws {
        let log = try makeCompactedTopicLog([
            [try keyedBatch([("k1", "a"), ("k2", "b")]), try put("k3", "c")],
            [try put("k1", "d"), try put("k3", "e")],
            [try put("k2", "f")]
        ])
        XCTAssertEqual(try transcript(log), ["0 k1=a", "1 k2=b", "2 k3=c", "3 k1=d", "4 k3=e", "5 k2=f"])

        let result = try log.compact(now: 1_000, options: options)

        // k2's newer value is in the active segment, which is neither cleaned nor in the key map.
        XCTAssertEqual(try transcript(log), ["1 k2=b", "3 k1=d", "4 k3=e", "5 k2=f"])
        XCTAssertEqual(result.segmentsScanned, 2)
        XCTAssertEqual(result.segmentsRewritten, 1)
        XCTAssertEqual(result.recordsBefore, 5)
        XCTAssertEqual(result.recordsAfter, 3)
        XCTAssertEqual(result.keys, 3)
        XCTAssertEqual(result.cleanedUpTo, 5)

        // The first batch kept its range 0...1 with one record left in it.
        let batches = try readAll(log)
        XCTAssertEqual(batches.map(\.header.baseOffset), [0, 3, 4, 5])
        XCTAssertEqual(batches[0].header.lastOffset, 1)
        XCTAssertEqual(batches[0].header.recordsCount, 1)
        // A fetch at the offset of a removed record answers with the next kept batch.
        let fetched = try RecordBatches.split(
            log.read(from: 2, maxBytes: 1 << 20, minOneBatch: true).records, verifyCRC: true)
        XCTAssertEqual(fetched.first?.header.baseOffset, 3)
        XCTAssertEqual(log.logStartOffset, 0)
        XCTAssertEqual(log.logEndOffset, 6)
    }

    func testTheActiveSegmentIsNeverTouched() throws {
        let log = try makeCompactedTopicLog([[try put("k", "1"), try put("k", "2"), try put("k", "3")]])
        let before = try readAllBytes(log)
        let result = try log.compact(now: 1_000, options: options)
        XCTAssertEqual(result.segmentsScanned, 0)
        XCTAssertEqual(try readAllBytes(log), before)
        XCTAssertFalse(log.compactionDue(now: 1_000, options: options))
    }

    func testAnUnchangedSegmentIsNotRewritten() throws {
        let log = try makeCompactedTopicLog([[try put("a", "1"), try put("b", "2")], [try put("c", "3")]])
        let files = try log.fileSystem.list().sorted()
        let result = try log.compact(now: 1_000, options: options)
        XCTAssertEqual(result.segmentsRewritten, 0)
        XCTAssertEqual(result.recordsBefore, result.recordsAfter)
        XCTAssertEqual(try log.fileSystem.list().sorted(), files)
    }

    func testTombstonesStayForDeleteRetentionAfterTheFirstCleaningThenGo() throws {
        let log = try makeCompactedTopicLog([
            [try put("gone", "old"), try put("kept", "v")],
            [try put("gone", nil, timestamp: 2_000)],
            [try put("other", "x")]
        ])
        // Pass 1 at t=10 000: the old value goes, the tombstone stays and gets its delete horizon.
        let first = try log.compact(now: 10_000, options: options)
        XCTAssertEqual(try transcript(log), ["1 kept=v", "2 gone=nil", "3 other=x"])
        XCTAssertEqual(first.tombstonesRemoved, 0)
        XCTAssertEqual(first.nextTombstoneDeadline, 10_500)
        let stamped = try readAll(log)[1]
        XCTAssertTrue(stamped.header.hasDeleteHorizon)
        XCTAssertEqual(stamped.header.baseTimestamp, 10_500)
        XCTAssertEqual(stamped.header.maxTimestamp, 2_000)
        // The record's own timestamp is unchanged (its delta was rebased on the horizon).
        XCTAssertEqual(try RecordBatchDecoder.records(in: stamped).map(\.timestamp), [2_000])

        // Nothing new and the horizon not reached: no pass is due, and a pass keeps it.
        XCTAssertFalse(log.compactionDue(now: 10_499, options: options))
        XCTAssertEqual(try log.compact(now: 10_499, options: options).tombstonesRemoved, 0)
        XCTAssertEqual(try transcript(log), ["1 kept=v", "2 gone=nil", "3 other=x"])

        // At the horizon a pass is due and removes it; its now empty segment is deleted.
        XCTAssertTrue(log.compactionDue(now: 10_500, options: options))
        let last = try log.compact(now: 10_500, options: options)
        XCTAssertEqual(last.tombstonesRemoved, 1)
        XCTAssertEqual(last.segmentsRemoved, 1)
        XCTAssertNil(last.nextTombstoneDeadline)
        XCTAssertEqual(try transcript(log), ["1 kept=v", "3 other=x"])
        XCTAssertEqual(try segmentFileNames(log), [segmentName(0), segmentName(3)])
        XCTAssertFalse(log.compactionDue(now: 20_000, options: options))
    }

    func testAFirstSegmentThatLosesEverythingStaysEmptySoTheLogStartDoesNotMove() throws {
        let log = try makeCompactedTopicLog([[try put("k", "1")], [try put("k", "2")], [try put("z", "3")]])
        _ = try log.compact(now: 1_000, options: options)
        XCTAssertEqual(try transcript(log), ["1 k=2", "2 z=3"])
        XCTAssertEqual(try segmentFileNames(log), [segmentName(0), segmentName(1), segmentName(2)])
        XCTAssertEqual(log.logStartOffset, 0)
        XCTAssertEqual(try log.read(from: 0, maxBytes: 1 << 20, minOneBatch: true).records.readableBytes > 0, true)
        // Reopened, the log is the same (the empty first segment keeps the start at 0).
        let reopened = try FileLog(fileSystem: log.fileSystem, config: compactConfig, now: 0, logger: quietLogger)
        XCTAssertEqual(reopened.logStartOffset, 0)
        XCTAssertEqual(try transcript(reopened), ["1 k=2", "2 z=3"])
    }

    func testRetentionOfACompactDeleteTopicIsNotBlockedByAnEmptiedSegment() throws {
        var config = compactConfig
        config.retentionMs = 5_000
        let log = try makeCompactedTopicLog(
            [
                [try put("k", "1", timestamp: 1_000)], [try put("k", "2", timestamp: 9_000)],
                [try put("z", "3", timestamp: 9_000)]
            ], config: config)
        _ = try log.compact(now: 10_000, options: options)
        XCTAssertEqual(try log.enforceRetention(now: 10_000), 1)
        XCTAssertEqual(log.logStartOffset, 1)
        XCTAssertEqual(try transcript(log), ["1 k=2", "2 z=3"])
    }

    func testKeylessRecordsAreDropped() throws {
        let log = try makeCompactedTopicLog([[try keyedBatch([(nil, "x"), ("k", "v")])], [try put("z", "1")]])
        _ = try log.compact(now: 1_000, options: options)
        XCTAssertEqual(try transcript(log), ["1 k=v", "2 z=1"])
    }

    func testCompressedBatchesAreCleanedWithTheirCodecAndStayDecodable() throws {
        for codec in [CompressionCodec.gzip, .snappy, .lz4, .zstd] {
            let log = try makeCompactedTopicLog([
                [try keyedBatch([("a", "1"), ("b", "2"), ("c", "3")], codec: codec)],
                [try keyedBatch([("b", "4"), ("d", "5")], codec: codec)],
                [try put("e", "6")]
            ])
            _ = try log.compact(now: 1_000, options: options)
            XCTAssertEqual(try transcript(log), ["0 a=1", "2 c=3", "3 b=4", "4 d=5", "5 e=6"], "\(codec)")
            let first = try readAll(log)[0]
            XCTAssertEqual(first.header.compression, codec)
            XCTAssertEqual(first.header.recordsCount, 2)
            XCTAssertEqual(first.header.lastOffsetDelta, 2)
        }
    }

    func testIdempotentProducerFieldsAndTimestampsArePreserved() throws {
        let original = try keyedBatch(
            [("a", "1"), ("b", "2"), ("c", "3")], timestamp: 5_000, codec: .lz4,
            producerId: 42, producerEpoch: 3, baseSequence: 17)
        let log = try makeCompactedTopicLog([[original], [try put("b", "new")], [try put("z", "0")]])
        _ = try log.compact(now: 10_000, options: options)
        let cleaned = try readAll(log)[0]
        var expected = original.header
        expected.recordsCount = 2
        expected.batchLength = cleaned.header.batchLength
        expected.crc = cleaned.header.crc
        expected.partitionLeaderEpoch = cleaned.header.partitionLeaderEpoch
        XCTAssertEqual(cleaned.header, expected)
        XCTAssertEqual(cleaned.header.producerId, 42)
        XCTAssertEqual(cleaned.header.baseSequence, 17)
        XCTAssertEqual(cleaned.header.lastSequence, 19)
        XCTAssertEqual(try RecordBatchDecoder.records(in: cleaned).map(\.timestamp), [5_000, 5_002])
        XCTAssertEqual(try RecordBatchDecoder.records(in: cleaned).map(\.offset), [0, 2])
    }

    func testControlBatchesAreKeptAsTheyAre() throws {
        var marker = RecordBatchBuilder(producerId: 9, producerEpoch: 0, isTransactional: true, isControl: true)
        marker.append(key: [0, 0, 0, 1], value: [0, 0, 0, 0, 0, 0], timestamp: 1_000)
        let control = try marker.build()
        let log = try makeCompactedTopicLog([[try put("k", "1"), control], [try put("k", "2")], [try put("z", "3")]])
        _ = try log.compact(now: 1_000, options: options)
        let batches = try readAll(log)
        XCTAssertEqual(batches.map(\.header.baseOffset), [1, 2, 3])
        XCTAssertTrue(batches[0].header.isControl)
        XCTAssertEqual(bytes(of: batches[0].bytes), stored(control, at: 1))
    }

    func testMinCompactionLagKeepsYoungSegmentsOutOfTheCleaning() throws {
        let log = try makeCompactedTopicLog([
            [try put("k", "1", timestamp: 1_000)],
            [try put("k", "2", timestamp: 8_000)],
            [try put("z", "3", timestamp: 9_000)]
        ])
        let lagged = CompactionOptions(deleteRetentionMs: 0, minCompactionLagMs: 5_000, minCleanableDirtyRatio: 0.5)
        // At t=10 000 only the first segment is old enough: k=1 has no newer value in range.
        let result = try log.compact(now: 10_000, options: lagged)
        XCTAssertEqual(result.segmentsScanned, 1)
        XCTAssertEqual(result.cleanedUpTo, 1)
        XCTAssertEqual(try transcript(log), ["0 k=1", "1 k=2", "2 z=3"])
        // At t=13 000 the second one is too, and a pass is due for it.
        XCTAssertFalse(log.compactionDue(now: 12_999, options: lagged))
        XCTAssertTrue(log.compactionDue(now: 13_000, options: lagged))
        _ = try log.compact(now: 13_000, options: lagged)
        XCTAssertEqual(try transcript(log), ["1 k=2", "2 z=3"])
    }

    func testADirtyRatioBelowTheMinimumWaits() throws {
        let log = try makeCompactedTopicLog([
            [try put("a", "1"), try put("b", "1"), try put("c", "1")],
            [try put("a", "2")]
        ])
        let picky = CompactionOptions(deleteRetentionMs: 0, minCleanableDirtyRatio: 0.5)
        XCTAssertTrue(log.compactionDue(now: 1_000, options: picky), "never cleaned: everything is dirty")
        _ = try log.compact(now: 1_000, options: picky)
        XCTAssertFalse(log.compactionDue(now: 1_000, options: picky), "nothing new since the last pass")
        // One small new segment next to a larger clean one: below 0.5.
        _ = try log.append(try put("b", "2"), now: 200)
        XCTAssertFalse(log.compactionDue(now: 1_000, options: picky))
        XCTAssertTrue(
            log.compactionDue(
                now: 1_000, options: CompactionOptions(deleteRetentionMs: 0, minCleanableDirtyRatio: 0.01)))
        var forced = picky
        forced.maxCompactionLagMs = 100
        XCTAssertTrue(log.compactionDue(now: 2_000, options: forced), "a dirty segment past max.compaction.lag.ms")
    }

    func testCompactedSegmentsRecoverAfterCleanAndUncleanShutdown() throws {
        let directory = try makeTemporaryDirectory(self)
        let log = try makeCompactedTopicLog(
            [
                [try keyedBatch([("a", "1"), ("b", "1")]), try put("c", "1")],
                [try put("a", "2"), try put("c", nil)],
                [try put("b", "2")]
            ], fileSystem: PosixFileSystem(directory: directory))
        _ = try log.compact(now: 1_000, options: options)
        let expected = ["1 b=1", "3 a=2", "4 c=nil", "5 b=2"]
        XCTAssertEqual(try transcript(log), expected)
        // Unclean: no close, so the last two segments are CRC-checked.
        let unclean = try FileLog.open(directory: directory, config: compactConfig, now: 0, logger: quietLogger)
        XCTAssertEqual(try transcript(unclean), expected)
        try unclean.close()
        let clean = try FileLog.open(directory: directory, config: compactConfig, now: 0, logger: quietLogger)
        XCTAssertEqual(try transcript(clean), expected)
        XCTAssertEqual(clean.logEndOffset, 6)
        _ = try clean.append(try put("d", "1"), now: 1_000)
        XCTAssertEqual(try transcript(clean).last, "6 d=1")
    }

    func testAReaderHoldingTheOldSegmentKeepsReadingItAfterTheSwap() throws {
        let directory = try makeTemporaryDirectory(self)
        let log = try makeCompactedTopicLog(
            [[try put("k", "1"), try put("j", "1")], [try put("k", "2")], [try put("z", "3")]],
            fileSystem: PosixFileSystem(directory: directory))
        let old = log.stateLock.withLock { log.segments[0] }
        let oldSize = old.size
        _ = try log.compact(now: 1_000, options: options)
        XCTAssertFalse(log.stateLock.withLock { log.segments[0] } === old)
        // The old file was replaced by rename, but its open descriptor still reads the old bytes.
        var buffer = ByteBufferAllocator().buffer(capacity: Int(oldSize))
        XCTAssertEqual(try old.log.read(into: &buffer, count: Int(oldSize), at: 0), Int(oldSize))
        XCTAssertEqual(try RecordBatches.split(buffer, verifyCRC: true).map(\.header.baseOffset), [0, 1])
        XCTAssertEqual(try transcript(log), ["1 j=1", "2 k=2", "3 z=3"])
    }

    func testASegmentDeletedWhileBeingCleanedIsLeftAlone() throws {
        let fileSystem = HookedFileSystem(wrapping: MemoryFileSystem())
        let log = try makeCompactedTopicLog(
            [[try put("k", "1"), try put("j", "1")], [try put("k", "2")], [try put("z", "3")]],
            fileSystem: fileSystem)
        fileSystem.beforeFirstCleanedWrite = { _ = try? log.deleteRecords(before: 2) }
        let result = try log.compact(now: 1_000, options: options)
        XCTAssertEqual(result.segmentsSkipped, 1)
        XCTAssertEqual(result.segmentsRewritten, 0)
        XCTAssertEqual(try transcript(log), ["2 k=2", "3 z=3"])
        XCTAssertFalse(try fileSystem.list().contains { $0.hasSuffix(".cleaned") })
    }

    // MARK: Crash safety

    /// Crashes the pass at every file-system step it takes (each write, sync, rename and removal),
    /// reopens the files as after a restart, and checks that the log reads either as before the
    /// pass or as after it, never anything else, with no temporary file left behind.
    func testACrashAtAnyStepOfAPassRecoversTheOldOrTheNewLog() throws {
        let groups = [
            [try keyedBatch([("a", "1"), ("b", "1")]), try put("c", "1")],
            [try put("a", "2"), try put("d", "1")],
            [try put("d", "2"), try put("x", nil)],
            [try put("z", "1")]
        ]
        let reference = try makeCompactedTopicLog(groups)
        let before = try transcript(reference)
        _ = try reference.compact(now: 1_000, options: options)
        let after = try transcript(reference)
        XCTAssertNotEqual(before, after)
        XCTAssertEqual(after, ["1 b=1", "2 c=1", "3 a=2", "5 d=2", "6 x=nil", "7 z=1"])

        var sawOld = false, sawNew = false, sawMixed = false
        var step = 0
        while true {
            step += 1
            let memory = MemoryFileSystem()
            let crashing = HookedFileSystem(wrapping: memory)
            let log = try makeCompactedTopicLog(groups, fileSystem: crashing)
            crashing.crashAtStep = step
            do {
                _ = try log.compact(now: 1_000, options: options)
                XCTAssertFalse(crashing.crashed)
                break
            } catch {
                XCTAssertTrue(crashing.crashed, "step \(step): \(error)")
            }
            let recovered = try FileLog(fileSystem: memory, config: compactConfig, now: 0, logger: quietLogger)
            let seen = try transcript(recovered)
            // Segments are swapped one at a time: a crash between two swaps leaves the first
            // cleaned and the second not, which still reads as the latest value per key.
            if seen == before {
                sawOld = true
            } else if seen == after {
                sawNew = true
            } else {
                sawMixed = true
                XCTAssertEqual(seen, ["1 b=1", "2 c=1", "3 a=2", "4 d=1", "5 d=2", "6 x=nil", "7 z=1"], "step \(step)")
            }
            XCTAssertFalse(try memory.list().contains { $0.hasSuffix(".cleaned") }, "step \(step)")
            // A pass after the restart finishes the job.
            _ = try recovered.compact(now: 1_000, options: options)
            XCTAssertEqual(try transcript(recovered), after, "step \(step)")
            XCTAssertLessThan(step, 200)
        }
        XCTAssertTrue(sawOld && sawNew && sawMixed, "old \(sawOld) new \(sawNew) mixed \(sawMixed) after \(step) steps")
    }

    // MARK: Concurrency

    func testAppendsAndReadsGoOnWhileTheLogIsCompacted() throws {
        let directory = try makeTemporaryDirectory(self)
        let config = LogConfig(segmentBytes: 8 * 1024, segmentMs: 1_000, retentionMs: -1, indexIntervalBytes: 256)
        let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
        let report = ThreadReport()
        let keys = 20, batches = 3_000
        let appender = Thread {
            for number in 0..<batches {
                do {
                    _ = try log.append(
                        try keyedBatch([("key\(number % keys)", "value\(number)")], timestamp: Int64(number)),
                        now: Int64(number))
                } catch { report.problem("append \(number): \(error)") }
            }
            report.appenderFinished()
        }
        let reader = Thread {
            for iteration in 0..<10_000_000 {
                if !report.isAppending && iteration >= 200 { return }
                do {
                    // Walk the whole log: every batch whole and valid, offsets increasing.
                    var next = log.logStartOffset
                    let end = log.logEndOffset
                    while next < end {
                        let result = try log.read(from: next, maxBytes: 64 * 1024, minOneBatch: true)
                        let found = try RecordBatches.split(result.records, verifyCRC: true)
                        guard let first = found.first, let last = found.last else {
                            report.problem("nothing read at \(next) below \(end)"); return
                        }
                        if first.header.lastOffset < next {
                            report.problem("read at \(next) began with a batch ending at \(first.header.lastOffset)")
                        }
                        for batch in found { _ = try RecordBatchDecoder.records(in: batch) }
                        next = last.header.nextOffset
                    }
                    report.countRead()
                } catch {
                    report.problem("read failed: \(error)")
                    return
                }
            }
        }
        appender.start()
        reader.start()
        var passes = 0
        var rewritten = 0
        while report.isAppending {
            let result = try log.compact(now: 1_000_000, options: options)
            passes += 1
            rewritten += result.segmentsRewritten + result.segmentsRemoved
        }
        while !reader.isFinished { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertEqual(report.allProblems, [])
        XCTAssertGreaterThan(rewritten, 0, "\(passes) passes rewrote nothing")
        // Roll once more so everything is cleanable, then every key holds exactly its last value.
        _ = try log.append(try put("final", "x"), now: Int64(batches) + 1_000_000)
        _ = try log.compact(now: 1_000_000, options: options)
        let lines = try transcript(log)
        var expected: [String] = []
        for number in (batches - keys)..<batches { expected.append("\(number) key\(number % keys)=value\(number)") }
        expected.append("\(batches) final=x")
        XCTAssertEqual(lines, expected)
    }
}

/// A file system that can run a hook before compaction writes its first `.cleaned` byte, or
/// "crash" at the n-th mutating step: that step and every later one fail, as if the process died.
final class HookedFileSystem: LogFileSystem, @unchecked Sendable {
    let inner: any LogFileSystem
    private let lock = NSLock()
    private var steps = 0
    private var crashStep = Int.max
    private var hook: (() -> Void)?

    init(wrapping inner: any LogFileSystem) { self.inner = inner }

    var crashAtStep: Int {
        get { lock.withLock { crashStep } }
        set {
            lock.withLock {
                crashStep = newValue; steps = 0
            }
        }
    }
    var crashed: Bool { lock.withLock { steps >= crashStep } }
    var beforeFirstCleanedWrite: (() -> Void)? {
        get { lock.withLock { hook } }
        set { lock.withLock { hook = newValue } }
    }

    func step(_ name: String) throws(LogError) {
        if name.hasSuffix(LogFileNames.cleanedSuffix),
            let hook = lock.withLock({ () -> (() -> Void)? in
                defer { self.hook = nil }
                return self.hook
            })
        {
            hook()
        }
        let crash = lock.withLock { () -> Bool in
            steps += 1
            return steps >= crashStep
        }
        if crash { throw .storage("simulated crash") }
    }

    func createDirectoryIfNeeded() throws(LogError) { try inner.createDirectoryIfNeeded() }
    func list() throws(LogError) -> [String] { try inner.list() }
    func open(_ name: String) throws(LogError) -> any LogFile {
        HookedFile(inner: try inner.open(name), name: name, owner: self)
    }
    func exists(_ name: String) -> Bool { inner.exists(name) }
    func remove(_ name: String) throws(LogError) {
        try step(name)
        try inner.remove(name)
    }
    func readSmallFile(_ name: String) throws(LogError) -> [UInt8]? { try inner.readSmallFile(name) }
    func replaceAtomically(_ name: String, with contents: [UInt8]) throws(LogError) {
        try step(name)
        try inner.replaceAtomically(name, with: contents)
    }
    func syncDirectory() throws(LogError) {
        try step("")
        try inner.syncDirectory()
    }
    func rename(_ source: String, to target: String) throws(LogError) {
        try step(source)
        try inner.rename(source, to: target)
    }
}

final class HookedFile: LogFile, @unchecked Sendable {
    let inner: any LogFile
    let name: String
    let owner: HookedFileSystem

    init(inner: any LogFile, name: String, owner: HookedFileSystem) {
        self.inner = inner
        self.name = name
        self.owner = owner
    }

    func read(into buffer: inout ByteBuffer, count: Int, at offset: Int64) throws(LogError) -> Int {
        try inner.read(into: &buffer, count: count, at: offset)
    }
    func write(_ parts: [UnsafeRawBufferPointer], at offset: Int64) throws(LogError) {
        try owner.step(name)
        try inner.write(parts, at: offset)
    }
    func truncate(to size: Int64) throws(LogError) {
        try owner.step(name)
        try inner.truncate(to: size)
    }
    func size() throws(LogError) -> Int64 { try inner.size() }
    func sync() throws(LogError) {
        try owner.step(name)
        try inner.sync()
    }
}
