import KafkaRecords
import NIOCore
import XCTest

final class MirroredRecordsValidatorTests: XCTestCase {
    private func batch(_ count: Int, at offset: Int64, codec: CompressionCodec = .none, control: Bool = false) throws
        -> StoredBatch
    {
        var builder = RecordBatchBuilder(baseOffset: offset, codec: codec, isTransactional: control, isControl: control)
        for i in 0..<count { builder.append(key: [UInt8(i)], value: [1, 2, 3], timestamp: 1000 + Int64(i)) }
        return try builder.build()
    }

    private func joined(_ batches: [StoredBatch]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for batch in batches { buffer.writeImmutableBuffer(batch.bytes) }
        return buffer
    }

    func testAcceptsSeveralBatchesWithGapsControlBatchesAndCompression() throws {
        let thinned = try RecordBatchRecords(try batch(4, at: 10, codec: .zstd)).rebuilt(keeping: [1, 3])
        let batches = [
            try batch(3, at: 0), thinned, try batch(1, at: 14, control: true), try batch(2, at: 30, codec: .lz4)
        ]
        let validated = try MirroredRecordsValidator.validate(joined(batches), maxBatchBytes: 1 << 20)
        XCTAssertEqual(validated.map(\.header.baseOffset), [0, 10, 14, 30])
        XCTAssertEqual(try MirroredRecordsValidator.validate(ByteBuffer(), maxBatchBytes: 1 << 20).count, 0)
    }

    func testRefusesOverlappingBatchesTruncationAndBadCounts() throws {
        XCTAssertThrowsError(
            try MirroredRecordsValidator.validate(
                joined([try batch(3, at: 0), try batch(1, at: 2)]), maxBatchBytes: 1 << 20))
        var truncated = joined([try batch(3, at: 0)])
        truncated.moveWriterIndex(to: truncated.writerIndex - 1)
        XCTAssertThrowsError(try MirroredRecordsValidator.validate(truncated, maxBatchBytes: 1 << 20)) { error in
            XCTAssertEqual((error as? RecordBatchError)?.kafkaErrorCode, 2)
        }
        // recordsCount above lastOffsetDelta + 1 (header patched, CRC recomputed).
        var bad = try batch(2, at: 0)
        bad.bytes.setInteger(Int32(3), at: bad.bytes.readerIndex + 57, endianness: .big)
        let crc = CRC32C.checksum(bad.bytes, at: bad.bytes.readerIndex + 21, length: bad.bytes.readableBytes - 21)
        bad.bytes.setInteger(crc, at: bad.bytes.readerIndex + 17, endianness: .big)
        XCTAssertThrowsError(try MirroredRecordsValidator.validate(bad.bytes, maxBatchBytes: 1 << 20)) { error in
            guard case .invalidRecordCount = error as? RecordBatchError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try MirroredRecordsValidator.validate(joined([try batch(3, at: 0)]), maxBatchBytes: 10)) {
            error in
            XCTAssertEqual((error as? RecordBatchError)?.kafkaErrorCode, 10)
        }
    }
}
