import KafkaRecords
import NIOCore
import XCTest
@testable import LogStorage

/// Recovery of a FileLog directory after a crash: torn writes, corrupt bytes, lost indexes.
final class FileLogRecoveryTests: XCTestCase {
    /// The directory a crashed log left behind, and what it held.
    private struct CrashedLog {
        var files: [String: [UInt8]]
        /// Name of the last segment's `.log` and its base offset.
        var lastSegment: String
        var lastSegmentBase: Int64
        /// The batches of the last segment, in order, with their byte positions in it.
        var lastSegmentBatches: [(header: RecordBatchHeader, position: Int)]
        /// Every stored byte of the earlier segments, in order.
        var earlierSegmentsBytes: [UInt8]
    }

    private let config = LogConfig(segmentBytes: 600, retentionMs: -1, indexIntervalBytes: 1)

    /// Writes batches of varied sizes and codecs until there are three segments and the last one
    /// holds three batches, then drops the log without closing it (a crash) and captures the directory.
    private func crashedLog(closedCleanly: Bool = false) throws -> CrashedLog {
        let directory = try makeTemporaryDirectory(self)
        do {
            let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
            let codecs: [CompressionCodec] = [.none, .gzip, .none, .lz4, .zstd, .none, .snappy]
            for number in 0..<100 {
                let batch = try makeBatch(
                    "b\(number)", records: 1 + number % 3, timestamp: 1_000 + Int64(number),
                    padding: 20 * (number % 4), codec: codecs[number % codecs.count])
                _ = try log.append(batch, now: 0)
                let segments = try segmentFileNames(log)
                if segments.count >= 3, try log.batchHeaders(from: Int64(segments.last!.prefix(20))!).count >= 3 {
                    break
                }
            }
            if closedCleanly { try log.close() }
        }
        let files = try directoryContents(directory)
        let logs = files.keys.filter { $0.hasSuffix(".log") }.sorted()
        let last = try XCTUnwrap(logs.last)
        var batches: [(RecordBatchHeader, Int)] = []
        var position = 0
        for batch in try RecordBatches.split(ByteBuffer(bytes: files[last]!), verifyCRC: true) {
            batches.append((batch.header, position))
            position += batch.header.totalSize
        }
        guard logs.count >= 3, batches.count >= 3 else {
            XCTFail("setup wanted three segments and three batches in the last, got \(logs.count) and \(batches.count)")
            throw LogError.invalidBatch("test setup")
        }
        return CrashedLog(
            files: files, lastSegment: last, lastSegmentBase: Int64(last.prefix(20))!,
            lastSegmentBatches: batches, earlierSegmentsBytes: logs.dropLast().flatMap { files[$0]! })
    }

    /// A new directory holding `crashed`'s files, with the last segment's `.log` replaced by `lastLog`.
    private func restore(_ crashed: CrashedLog, lastLog: [UInt8], without removed: Set<String> = []) throws -> String {
        let directory = try makeTemporaryDirectory(self)
        for (name, contents) in crashed.files where !removed.contains(name) {
            try writeFile(directory, name, name == crashed.lastSegment ? lastLog : contents)
        }
        return directory
    }

    func testCuttingTheLastSegmentAnywhereKeepsExactlyTheWholeBatchesBeforeTheCut() throws {
        try checkEveryCut(try crashedLog())
    }

    func testACutIsFoundEvenWhenTheDirectoryClaimsACleanShutdown() throws {
        let closed = try crashedLog(closedCleanly: true)
        XCTAssertNotNil(closed.files[".clean-shutdown"])
        try checkEveryCut(closed)
    }

    /// Cuts the last segment's `.log` at every byte inside its last two batches (and a few other
    /// places), reopens, and checks that exactly the whole batches before the cut remain and that
    /// a new append lands right after them.
    private func checkEveryCut(_ crashed: CrashedLog, file: StaticString = #filePath, line: UInt = #line) throws {
        let lastLog = crashed.files[crashed.lastSegment]!
        let batches = crashed.lastSegmentBatches
        // Every byte inside the last two batches, the untouched file, and some earlier positions.
        var cuts = Array(batches[batches.count - 2].position...lastLog.count)
        var generator = SeededGenerator(seed: 2024)
        cuts +=
            [0, 1, RecordBatchHeader.size]
            + (0..<6).map { _ in Int.random(in: 0..<batches[batches.count - 2].position, using: &generator) }

        for cut in cuts {
            let whole = batches.filter { $0.position + $0.header.totalSize <= cut }
            let keptBytes = whole.last.map { $0.position + $0.header.totalSize } ?? 0
            let expectedEnd = whole.last?.header.nextOffset ?? crashed.lastSegmentBase
            let directory = try restore(crashed, lastLog: Array(lastLog.prefix(cut)))

            let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
            XCTAssertEqual(log.logEndOffset, expectedEnd, "cut at \(cut)", file: file, line: line)
            XCTAssertEqual(
                try readAllBytes(log), crashed.earlierSegmentsBytes + lastLog.prefix(keptBytes), "cut at \(cut)",
                file: file, line: line)
            XCTAssertEqual(
                try fileBytes(directory, crashed.lastSegment).count, keptBytes,
                "the torn tail is cut off the file (cut at \(cut))", file: file, line: line)

            let next = try makeBatch("after-the-crash", records: 2)
            XCTAssertEqual(
                try log.append(next, now: 0).baseOffset, expectedEnd, "cut at \(cut)", file: file, line: line)
            XCTAssertEqual(
                try readAll(log, from: expectedEnd).map { bytes(of: $0.bytes) }, [stored(next, at: expectedEnd)],
                "cut at \(cut)", file: file, line: line)
        }
    }

    func testAFlippedByteInTheLastBatchTruncatesTheLogAtThatBatch() throws {
        let crashed = try crashedLog()
        let last = crashed.lastSegmentBatches.last!
        for position in [
            last.position + RecordBatchHeader.crcOffset + 1, last.position + last.header.totalSize / 2,
            last.position + last.header.totalSize - 1
        ] {
            var damaged = crashed.files[crashed.lastSegment]!
            damaged[position] ^= 0x40
            let directory = try restore(crashed, lastLog: damaged)
            let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
            XCTAssertEqual(log.logEndOffset, last.header.baseOffset, "damage at \(position)")
            XCTAssertEqual(try fileBytes(directory, crashed.lastSegment).count, last.position)
            XCTAssertEqual(try log.append(makeBatch("again"), now: 0).baseOffset, last.header.baseOffset)
        }
    }

    func testAFlippedByteInAnEarlierBatchOfTheLastSegmentDropsEverythingFromThere() throws {
        let crashed = try crashedLog()
        let victim = crashed.lastSegmentBatches[1]
        var damaged = crashed.files[crashed.lastSegment]!
        damaged[victim.position + victim.header.totalSize - 3] ^= 0x01
        let directory = try restore(crashed, lastLog: damaged)
        let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
        XCTAssertEqual(log.logEndOffset, victim.header.baseOffset)
        XCTAssertEqual(try readAllBytes(log), crashed.earlierSegmentsBytes + damaged.prefix(victim.position))
    }

    func testGarbageAfterTheLastBatchIsCutOff() throws {
        let crashed = try crashedLog()
        let lastLog = crashed.files[crashed.lastSegment]!
        for garbage: [UInt8] in [[0], [UInt8](repeating: 0, count: 200), [UInt8](repeating: 0xFF, count: 70)] {
            let directory = try restore(crashed, lastLog: lastLog + garbage)
            let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
            XCTAssertEqual(log.logEndOffset, crashed.lastSegmentBatches.last!.header.nextOffset)
            XCTAssertEqual(try fileBytes(directory, crashed.lastSegment), lastLog)
        }
    }

    func testDeletedIndexFilesAreRebuiltAndReadsStillWork() throws {
        let crashed = try crashedLog()
        let indexes = Set(crashed.files.keys.filter { $0.hasSuffix(".index") || $0.hasSuffix(".timeindex") })
        XCTAssertFalse(indexes.isEmpty)
        XCTAssertTrue(
            crashed.files.filter { indexes.contains($0.key) }.values.contains { !$0.isEmpty }, "some index has entries")
        let directory = try restore(crashed, lastLog: crashed.files[crashed.lastSegment]!, without: indexes)

        let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
        for name in indexes {
            XCTAssertEqual(try fileBytes(directory, name), crashed.files[name], "\(name) rebuilt as it was")
        }
        let all = try readAll(log)
        XCTAssertEqual(
            all.flatMap { bytes(of: $0.bytes) }, crashed.earlierSegmentsBytes + crashed.files[crashed.lastSegment]!)
        for batch in all {
            for offset in batch.header.baseOffset...batch.header.lastOffset {
                let first = try RecordBatches.split(
                    log.read(from: offset, maxBytes: 1, minOneBatch: true).records, verifyCRC: true)
                XCTAssertEqual(first.map(\.header.baseOffset), [batch.header.baseOffset], "offset \(offset)")
            }
            XCTAssertEqual(
                try log.firstBatch(withMaxTimestampAtLeast: batch.header.maxTimestamp)?.header.baseOffset,
                batch.header.baseOffset)
        }
    }

    func testCorruptIndexFilesAreRebuiltToo() throws {
        let crashed = try crashedLog()
        let directory = try restore(crashed, lastLog: crashed.files[crashed.lastSegment]!)
        for name in crashed.files.keys where name.hasSuffix(".index") {
            try writeFile(directory, name, [UInt8](repeating: 0xFF, count: 13))
        }
        let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
        XCTAssertEqual(try readAllBytes(log), crashed.earlierSegmentsBytes + crashed.files[crashed.lastSegment]!)
        for name in crashed.files.keys where name.hasSuffix(".index") {
            XCTAssertEqual(try fileBytes(directory, name), crashed.files[name], name)
        }
    }

    func testLeftoverIndexesOfADeletedSegmentAreRemoved() throws {
        let crashed = try crashedLog()
        let directory = try restore(crashed, lastLog: crashed.files[crashed.lastSegment]!)
        let firstLog = crashed.files.keys.filter { $0.hasSuffix(".log") }.min()!
        try removeFile(directory, firstLog)  // a deletion interrupted after the .log went
        let stem = String(firstLog.prefix(20))
        let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(directory)/\(stem).index"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(directory)/\(stem).timeindex"))
        XCTAssertGreaterThan(log.logStartOffset, 0)
        XCTAssertEqual(try readAll(log).last?.header.nextOffset, log.logEndOffset)
    }
}
