import Foundation
import KafkaRecords
import Logging
import NIOCore
import XCTest
@testable import LogStorage

// Helpers shared by the log tests: batch factories, whole-log reads, temporary directories.

let quietLogger: Logger = {
    var logger = Logger(label: "strait.test.log")
    logger.logLevel = .critical
    return logger
}()

/// A batch of `records` records whose values say which batch they belong to, all with `timestamp`
/// (or the `timestamps` given). `padding` adds bytes to each value to control the batch size.
func makeBatch(
    _ tag: String, records: Int = 1, timestamp: Int64 = 1_000, timestamps: [Int64]? = nil,
    padding: Int = 0, codec: CompressionCodec = .none
) throws -> StoredBatch {
    var builder = RecordBatchBuilder(codec: codec)
    for index in 0..<records {
        let value = Array("\(tag)/\(index)".utf8) + [UInt8](repeating: 0x2E, count: padding)
        builder.append(key: Array("k\(index)".utf8), value: value, timestamp: timestamps?[index] ?? timestamp)
    }
    return try builder.build()
}

func bytes(of buffer: ByteBuffer) -> [UInt8] {
    buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? []
}

/// The bytes a log must store for `batch` appended at `offset`: identical except the base offset.
func stored(_ batch: StoredBatch, at offset: Int64) -> [UInt8] {
    var copy = batch
    copy.assignBaseOffset(offset)
    return bytes(of: copy.bytes)
}

/// Reads every batch from `offset` (default: the log start) to the log end (bounded loop; one
/// read returns batches of one segment only).
func readAll(_ log: any PartitionLog, from offset: Int64? = nil, file: StaticString = #filePath, line: UInt = #line)
    throws -> [StoredBatch]
{
    var next = offset ?? log.logStartOffset
    var batches: [StoredBatch] = []
    for _ in 0..<10_000 {
        let result = try log.read(from: next, maxBytes: 1 << 30, minOneBatch: true)
        let found = try RecordBatches.split(result.records, verifyCRC: true)
        guard let last = found.last else { break }
        batches += found
        next = last.header.nextOffset
    }
    XCTAssertEqual(next, log.logEndOffset, "reading reaches the end of the log", file: file, line: line)
    return batches
}

func readAllBytes(
    _ log: any PartitionLog, from offset: Int64? = nil, file: StaticString = #filePath, line: UInt = #line
) throws -> [UInt8] {
    try readAll(log, from: offset, file: file, line: line).flatMap { bytes(of: $0.bytes) }
}

/// The `.log` file names of a FileLog (or InMemoryLog), sorted.
func segmentFileNames(_ log: any PartitionLog) throws -> [String] {
    guard let log = log as? FileLog else { return [] }
    return try log.fileSystem.list().filter { $0.hasSuffix(".log") }.sorted()
}

/// Kafka's segment file name: the base offset zero-padded to 20 digits.
func segmentName(_ baseOffset: Int64) -> String {
    let digits = String(baseOffset)
    return String(repeating: "0", count: 20 - digits.count) + digits + ".log"
}

/// A fresh directory, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("strait-log-test-\(UUID().uuidString)")
        .path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

func fileBytes(_ directory: String, _ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent(name)))
}

func writeFile(_ directory: String, _ name: String, _ contents: [UInt8]) throws {
    try Data(contents).write(to: URL(fileURLWithPath: directory).appendingPathComponent(name))
}

func removeFile(_ directory: String, _ name: String) throws {
    try FileManager.default.removeItem(atPath: URL(fileURLWithPath: directory).appendingPathComponent(name).path)
}

/// Every file of `directory` by name.
func directoryContents(_ directory: String) throws -> [String: [UInt8]] {
    var contents: [String: [UInt8]] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
        contents[name] = try fileBytes(directory, name)
    }
    return contents
}

/// Deterministic pseudo-random numbers (SplitMix64), so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
