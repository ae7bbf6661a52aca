import Foundation
import KafkaRecords
import Logging
import NIOCore
import XCTest
@testable import LogStorage

/// A batch of `count` records whose values name their batch: "b<tag>-<n>".
func makeNumberedBatch(_ tag: Int, count: Int = 3, timestamp: Int64 = 1_000, valueSize: Int = 20) -> StoredBatch {
    var builder = RecordBatchBuilder()
    for n in 0..<count {
        let value = Array("b\(tag)-\(n)-".utf8) + Array(repeating: UInt8(ascii: "x"), count: valueSize)
        builder.append(key: Array("k\(n)".utf8), value: value, timestamp: timestamp + Int64(n))
    }
    return try! builder.build()
}

final class FileLogTests: XCTestCase {
    var directory: String!

    override func setUp() {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("strait-log-\(UUID().uuidString)").path
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func open(_ config: LogConfig = LogConfig(), now: Int64 = 0) throws -> FileLog {
        try FileLog.open(directory: directory, config: config, now: now, logger: quietLogger)
    }

    func batches(_ result: LogReadResult) throws -> [StoredBatch] {
        try RecordBatches.split(result.records, verifyCRC: true)
    }

    func segmentFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".log") }.sorted()
    }

    func testAppendAssignsOffsetsAndStoresTheBytesAsGiven() throws {
        let log = try open()
        let first = makeNumberedBatch(1)
        XCTAssertEqual(try log.append(first, now: 0).baseOffset, 0)
        XCTAssertEqual(try log.append(makeNumberedBatch(2), now: 0).baseOffset, 3)
        XCTAssertEqual(log.logEndOffset, 6)

        let read = try batches(log.read(from: 0, maxBytes: 1 << 20, minOneBatch: true))
        XCTAssertEqual(read.map(\.header.baseOffset), [0, 3])
        XCTAssertEqual(read[0].bytes, first.bytes, "base offset 0 was already right: identical bytes")
        XCTAssertEqual(
            try batches(log.read(from: 4, maxBytes: 1 << 20, minOneBatch: true)).map(\.header.baseOffset), [3],
            "a read from inside a batch returns the whole batch")
        XCTAssertEqual(try log.read(from: 6, maxBytes: 1 << 20, minOneBatch: true).records.readableBytes, 0)
        XCTAssertThrowsError(try log.read(from: 7, maxBytes: 1 << 20, minOneBatch: true)) { error in
            XCTAssertEqual(error as? LogError, .offsetOutOfRange(requested: 7, logStart: 0, logEnd: 6))
        }
    }

    func testByteLimitsReturnWholeBatchesAndTheFirstBatchAlways() throws {
        let log = try open()
        let size = makeNumberedBatch(0).header.totalSize
        for tag in 0..<4 { _ = try log.append(makeNumberedBatch(tag), now: 0) }
        XCTAssertEqual(try batches(log.read(from: 0, maxBytes: 2 * size + 5, minOneBatch: true)).count, 2)
        XCTAssertEqual(try batches(log.read(from: 0, maxBytes: 10, minOneBatch: true)).count, 1, "KIP-74")
        XCTAssertEqual(try log.read(from: 0, maxBytes: 10, minOneBatch: false).records.readableBytes, 0)
    }

    func testSegmentsRollBySizeAndByTimeAndReadsCrossThem() throws {
        let size = makeNumberedBatch(0).header.totalSize
        let log = try open(LogConfig(segmentBytes: 2 * size, segmentMs: 1_000))
        for tag in 0..<5 { _ = try log.append(makeNumberedBatch(tag), now: 0) }
        XCTAssertEqual(
            try segmentFiles(), ["00000000000000000000.log", "00000000000000000006.log", "00000000000000000012.log"])
        _ = try log.append(makeNumberedBatch(5), now: 5_000)  // the active segment is older than segment.ms
        XCTAssertEqual(try segmentFiles().last, "00000000000000000015.log")

        var offset: Int64 = 0
        var tags: [Int64] = []
        while offset < log.logEndOffset {
            let read = try batches(log.read(from: offset, maxBytes: 1 << 20, minOneBatch: true))
            tags += read.map(\.header.baseOffset)
            offset = read.last!.header.nextOffset
        }
        XCTAssertEqual(tags, [0, 3, 6, 9, 12, 15])
    }

    func testRetentionByTimeAndBySizeMovesTheLogStart() throws {
        let size = makeNumberedBatch(0).header.totalSize
        let log = try open(LogConfig(segmentBytes: size, retentionMs: 10_000))
        for tag in 0..<4 { _ = try log.append(makeNumberedBatch(tag, timestamp: Int64(tag) * 10_000), now: 0) }
        // Segments hold one batch each, newest timestamps 2, 10002, 20002, 30002.
        XCTAssertEqual(try log.enforceRetention(now: 25_000), 2)
        XCTAssertEqual(log.logStartOffset, 6)
        log.updateConfig(LogConfig(segmentBytes: size, retentionMs: -1, retentionBytes: Int64(size)))
        XCTAssertEqual(try log.enforceRetention(now: 25_000), 1)
        XCTAssertEqual(log.logStartOffset, 9)
        XCTAssertThrowsError(try log.read(from: 3, maxBytes: 1 << 20, minOneBatch: true))
    }

    func testDeleteRecordsRaisesTheLogStartAndSurvivesReopening() throws {
        let size = makeNumberedBatch(0).header.totalSize
        var log = try open(LogConfig(segmentBytes: size))
        for tag in 0..<3 { _ = try log.append(makeNumberedBatch(tag), now: 0) }
        XCTAssertEqual(try log.deleteRecords(before: 4), 4)
        XCTAssertEqual(try segmentFiles().first, "00000000000000000003.log", "the wholly deleted segment is gone")
        XCTAssertThrowsError(try log.deleteRecords(before: 99))
        try log.close()

        log = try open(LogConfig(segmentBytes: size))
        XCTAssertEqual(log.logStartOffset, 4)
        XCTAssertEqual(log.logEndOffset, 9)
        XCTAssertEqual(try log.append(makeNumberedBatch(9), now: 0).baseOffset, 9)
    }

    func testACutAtEveryByteOfTheLastTwoBatchesRecoversToTheWholeBatchesBeforeIt() throws {
        let log = try open()
        var ends: [Int] = []
        var position = 0
        for tag in 0..<5 {
            let batch = makeNumberedBatch(tag)
            _ = try log.append(batch, now: 0)
            position += batch.header.totalSize
            ends.append(position)
        }
        try log.close()
        let segment = directory + "/00000000000000000000.log"
        let original = try Data(contentsOf: URL(fileURLWithPath: segment))
        for cut in ends[2]..<ends[4] {
            try original.prefix(cut).write(to: URL(fileURLWithPath: segment))
            let reopened = try open()
            let wholeBatches = ends.filter { $0 <= cut }.count
            XCTAssertEqual(reopened.logEndOffset, Int64(wholeBatches * 3), "cut at byte \(cut)")
            let read = try batches(reopened.read(from: 0, maxBytes: 1 << 20, minOneBatch: true))
            XCTAssertEqual(read.count, wholeBatches)
            XCTAssertEqual(try reopened.append(makeNumberedBatch(9), now: 0).baseOffset, Int64(wholeBatches * 3))
            try reopened.close()
        }
    }

    func testACorruptByteAfterACrashTruncatesAtThatBatch() throws {
        var log: FileLog? = try open()
        var ends: [Int] = []
        var position = 0
        for tag in 0..<4 {
            let batch = makeNumberedBatch(tag)
            _ = try log!.append(batch, now: 0)
            position += batch.header.totalSize
            ends.append(position)
        }
        log = nil  // no close: an unclean shutdown
        let url = URL(fileURLWithPath: directory + "/00000000000000000000.log")
        var bytes = try Data(contentsOf: url)
        bytes[ends[1] + 70] ^= 0xFF  // inside the third batch's records
        try bytes.write(to: url)

        let reopened = try open()
        XCTAssertEqual(reopened.logEndOffset, 6)
        XCTAssertEqual(try Data(contentsOf: url).count, ends[1])
    }

    func testMissingIndexesAreRebuilt() throws {
        let log = try open(LogConfig(indexIntervalBytes: 1))
        for tag in 0..<20 { _ = try log.append(makeNumberedBatch(tag, timestamp: Int64(tag) * 100), now: 0) }
        try log.close()
        try FileManager.default.removeItem(atPath: directory + "/00000000000000000000.index")
        try FileManager.default.removeItem(atPath: directory + "/00000000000000000000.timeindex")

        let reopened = try open(LogConfig(indexIntervalBytes: 1))
        XCTAssertEqual(
            try batches(reopened.read(from: 31, maxBytes: 1, minOneBatch: true)).first?.header.baseOffset, 30)
        XCTAssertEqual(try reopened.firstBatch(withMaxTimestampAtLeast: 1_050)?.header.baseOffset, 33)
        let indexSize =
            try FileManager.default.attributesOfItem(atPath: directory + "/00000000000000000000.index")[.size] as? Int
        // Every batch but the first (position 0 needs no entry) is indexed, as before the deletion.
        XCTAssertEqual(indexSize, 19 * 8)
    }

    func testTimestampQueries() throws {
        let size = makeNumberedBatch(0).header.totalSize
        let log = try open(LogConfig(segmentBytes: 2 * size))
        for tag in 0..<6 { _ = try log.append(makeNumberedBatch(tag, timestamp: Int64(tag) * 1_000), now: 0) }
        XCTAssertEqual(try log.firstBatch(withMaxTimestampAtLeast: 2_001)?.header.baseOffset, 6)
        XCTAssertEqual(try log.firstBatch(withMaxTimestampAtLeast: 2_003)?.header.baseOffset, 9)
        XCTAssertNil(try log.firstBatch(withMaxTimestampAtLeast: 9_000))
        XCTAssertEqual(log.maxTimestampAndOffset()?.timestamp, 5_002)
        XCTAssertEqual(log.maxTimestampAndOffset()?.offset, 17)
        XCTAssertEqual(try log.batchHeaders(from: 10).map(\.baseOffset), [9, 12, 15])
    }

    func testAFullDiskFailsTheAppendAndLeavesTheLogAsItWas() throws {
        let fileSystem = FailingFileSystem(wrapping: PosixFileSystem(directory: directory))
        let log = try FileLog(fileSystem: fileSystem, config: LogConfig(), now: 0, logger: quietLogger)
        _ = try log.append(makeNumberedBatch(0), now: 0)
        fileSystem.failWrites = true
        XCTAssertThrowsError(try log.append(makeNumberedBatch(1, valueSize: 5_000), now: 0)) { error in
            XCTAssertEqual(error as? LogError, .storage("write: No space left on device"))
        }
        XCTAssertEqual(log.logEndOffset, 3)
        fileSystem.failWrites = false
        XCTAssertEqual(try log.append(makeNumberedBatch(2), now: 0).baseOffset, 3)
        try log.close()

        let reopened = try open()
        XCTAssertEqual(
            try batches(reopened.read(from: 0, maxBytes: 1 << 20, minOneBatch: true)).map(\.header.baseOffset), [0, 3])
    }

    func testReadersOnlyEverSeeWholeBatchesWhileAppendsGoOn() throws {
        let log = try open(LogConfig(segmentBytes: 64 * 1024))
        let done = ManagedFlag()
        let readers = DispatchGroup()
        let failures = ManagedFlag()
        for _ in 0..<2 {
            DispatchQueue.global().async(group: readers) {
                while !done.isSet {
                    do {
                        let start = log.logStartOffset
                        let read = try log.read(from: start, maxBytes: 1 << 20, minOneBatch: true)
                        _ = try RecordBatches.split(read.records, verifyCRC: true)
                    } catch { failures.set() }
                }
            }
        }
        for tag in 0..<2_000 { _ = try log.append(makeNumberedBatch(tag, count: 2), now: 0) }
        done.set()
        XCTAssertEqual(readers.wait(timeout: .now() + 30), .success)
        XCTAssertFalse(failures.isSet, "a reader saw a partial or corrupt batch")
        XCTAssertEqual(log.logEndOffset, 4_000)
    }

    func testTheInMemoryLogBehavesTheSame() throws {
        let log = InMemoryLog(config: LogConfig(segmentBytes: makeNumberedBatch(0).header.totalSize))
        for tag in 0..<3 { _ = try log.append(makeNumberedBatch(tag), now: 0) }
        XCTAssertEqual(
            try batches(log.read(from: 4, maxBytes: 1 << 20, minOneBatch: true)).map(\.header.baseOffset), [3])
        XCTAssertEqual(try log.deleteRecords(before: 6), 6)
        XCTAssertEqual(log.logStartOffset, 6)
    }
}

final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// Wraps a file system so writes to segment files can be made to fail like a full disk.
final class FailingFileSystem: LogFileSystem, @unchecked Sendable {
    let inner: any LogFileSystem
    private let lock = NSLock()
    private var failing = false
    var failWrites: Bool {
        get { lock.withLock { failing } }
        set { lock.withLock { failing = newValue } }
    }

    init(wrapping inner: any LogFileSystem) { self.inner = inner }

    func createDirectoryIfNeeded() throws(LogError) { try inner.createDirectoryIfNeeded() }
    func list() throws(LogError) -> [String] { try inner.list() }
    func open(_ name: String) throws(LogError) -> any LogFile { FailingFile(inner: try inner.open(name), owner: self) }
    func exists(_ name: String) -> Bool { inner.exists(name) }
    func remove(_ name: String) throws(LogError) { try inner.remove(name) }
    func readSmallFile(_ name: String) throws(LogError) -> [UInt8]? { try inner.readSmallFile(name) }
    func replaceAtomically(_ name: String, with contents: [UInt8]) throws(LogError) {
        try inner.replaceAtomically(name, with: contents)
    }
    func syncDirectory() throws(LogError) { try inner.syncDirectory() }
    func rename(_ source: String, to target: String) throws(LogError) { try inner.rename(source, to: target) }
}

final class FailingFile: LogFile, @unchecked Sendable {
    let inner: any LogFile
    let owner: FailingFileSystem

    init(inner: any LogFile, owner: FailingFileSystem) {
        self.inner = inner
        self.owner = owner
    }

    func read(into buffer: inout ByteBuffer, count: Int, at offset: Int64) throws(LogError) -> Int {
        try inner.read(into: &buffer, count: count, at: offset)
    }

    /// A full disk accepts part of a write, then refuses the rest.
    func write(_ parts: [UnsafeRawBufferPointer], at offset: Int64) throws(LogError) {
        guard owner.failWrites else { return try inner.write(parts, at: offset) }
        if let first = parts.first, first.count > 1 {
            try inner.write([UnsafeRawBufferPointer(rebasing: first[0..<(first.count / 2)])], at: offset)
        }
        throw .storage("write: No space left on device")
    }

    func truncate(to size: Int64) throws(LogError) { try inner.truncate(to: size) }
    func size() throws(LogError) -> Int64 { try inner.size() }
    func sync() throws(LogError) { try inner.sync() }
}
