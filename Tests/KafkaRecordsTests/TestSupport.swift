import NIOCore
import XCTest
@testable import KafkaRecords

/// Bytes from a hex string; spaces are ignored.
func hex(_ string: String) -> [UInt8] {
    let digits = Array(string.filter { !$0.isWhitespace })
    precondition(digits.count % 2 == 0, "odd number of hex digits")
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

func utf8(_ string: String) -> [UInt8] { Array(string.utf8) }

extension ByteBuffer {
    var allBytes: [UInt8] { Array(readableBytesView) }
}

/// Recomputes the CRC-32C of a batch image after a test edited it, so that the edit reaches the
/// checks behind the CRC.
func resealed(_ batch: [UInt8]) -> ByteBuffer {
    var bytes = batch
    let crc = CRC32C.checksum(bytes[RecordBatchHeader.attributesOffset...])
    bytes.replaceSubrange(17..<21, with: withUnsafeBytes(of: crc.bigEndian, Array.init))
    return ByteBuffer(bytes: bytes)
}

/// Writes a big-endian integer into a byte array at `offset`.
func overwrite<T: FixedWidthInteger>(_ bytes: inout [UInt8], at offset: Int, with value: T) {
    bytes.replaceSubrange(
        offset..<(offset + MemoryLayout<T>.size), with: withUnsafeBytes(of: value.bigEndian, Array.init))
}

/// A batch header followed by an arbitrary records area, CRC correct. Lets tests build batches
/// whose records lie about themselves.
func handMadeBatch(
    area: [UInt8], recordsCount: Int32, lastOffsetDelta: Int32? = nil, attributes: Int16 = 0,
    baseOffset: Int64 = 0, baseTimestamp: Int64 = 1000, maxTimestamp: Int64 = 1000
) -> ByteBuffer {
    var bytes = ByteBuffer()
    bytes.writeInteger(baseOffset)
    bytes.writeInteger(Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead + area.count))
    bytes.writeInteger(Int32(-1))  // partitionLeaderEpoch
    bytes.writeInteger(Int8(2))
    bytes.writeInteger(UInt32(0))  // CRC, sealed below
    bytes.writeInteger(attributes)
    bytes.writeInteger(lastOffsetDelta ?? (recordsCount - 1))
    bytes.writeInteger(baseTimestamp)
    bytes.writeInteger(maxTimestamp)
    bytes.writeInteger(Int64(-1))  // producerId
    bytes.writeInteger(Int16(-1))  // producerEpoch
    bytes.writeInteger(Int32(-1))  // baseSequence
    bytes.writeInteger(recordsCount)
    bytes.writeBytes(area)
    return resealed(bytes.allBytes)
}

/// Records exercising every nullable field and both signs of timestamp delta.
let sampleRecords: [Record] = [
    Record(timestamp: 1_700_000_000_000, key: utf8("key-0"), value: utf8("value-0")),
    Record(timestamp: 1_700_000_000_500, key: nil, value: utf8("no key")),
    Record(timestamp: 1_699_999_999_000, key: utf8("tombstone"), value: nil),
    Record(
        timestamp: 1_700_000_000_100, key: [], value: [],
        headers: [
            RecordHeader(key: "trace", value: utf8("abc")), RecordHeader(key: "", value: nil),
            RecordHeader(key: "ünïcode", value: [])
        ]),
    Record(
        timestamp: 1_700_000_000_200, key: Array(repeating: 0xAB, count: 300),
        value: (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
]

func buildBatch(
    _ records: [Record], codec: CompressionCodec = .none, baseOffset: Int64 = 0,
    configure: (inout RecordBatchBuilder) -> Void = { _ in }
) throws -> StoredBatch {
    var builder = RecordBatchBuilder(baseOffset: baseOffset, codec: codec)
    configure(&builder)
    for record in records { builder.append(record) }
    return try builder.build()
}

/// Runs `body` and returns the RecordBatchError it threw, failing the test if it did not throw one.
func expectError<T>(_ body: () throws(RecordBatchError) -> T, file: StaticString = #filePath, line: UInt = #line)
    -> RecordBatchError?
{
    do {
        let value = try body()
        XCTFail("expected an error, got \(value)", file: file, line: line)
        return nil
    } catch {
        return error
    }
}
