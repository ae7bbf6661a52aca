import Foundation
import NIOCore
import XCTest
@testable import KafkaRecords

final class VarintTests: XCTestCase {
    func testVectorsFromTheRecordFormat() throws {
        for (value, bytes) in [(Int32(0), [0x00]), (-1, [0x01]), (1, [0x02]), (64, [0x80, 0x01]),
                               (Int32.max, [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]), (Int32.min, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F])] {
            var buffer = ByteBuffer()
            _ = buffer.writeVarint(value)
            XCTAssertEqual(Array(buffer.readableBytesView), bytes.map(UInt8.init), "\(value)")
            XCTAssertEqual(try buffer.readVarint(), value)
        }
        for value in [Int64.min, -1, 0, 1, Int64.max] {
            var buffer = ByteBuffer()
            _ = buffer.writeVarlong(value)
            XCTAssertEqual(try buffer.readVarlong(), value)
        }
    }

    func testOverlongVarintsAreRefused() {
        var buffer = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        XCTAssertThrowsError(try buffer.readVarint())
        var truncated = ByteBuffer(bytes: [0x80])
        XCTAssertThrowsError(try truncated.readVarint())
    }
}

final class BatchRoundTripTests: XCTestCase {
    let records = [
        Record(timestamp: 1_700_000_000_000, key: Array("k1".utf8), value: Array("v1".utf8),
               headers: [RecordHeader(key: "h", value: Array("x".utf8)), RecordHeader(key: "null", value: nil)]),
        Record(timestamp: 1_699_999_999_000, key: nil, value: Array(repeating: 7, count: 5_000)),
        Record(timestamp: 1_700_000_000_500, key: Array("tombstone".utf8), value: nil),
    ]

    func testEveryCodecRoundTripsKeysValuesHeadersAndTimestamps() throws {
        for codec in CompressionCodec.allCases {
            let batch = try RecordBatchBuilder(baseOffset: 40, codec: codec, producerId: 7, producerEpoch: 1, baseSequence: 3,
                                               records: records).build()
            XCTAssertEqual(batch.header.compression, codec)
            XCTAssertEqual(batch.header.lastOffsetDelta, 2)
            XCTAssertEqual(batch.header.recordsCount, 3)
            XCTAssertEqual(batch.header.maxTimestamp, 1_700_000_000_500)
            XCTAssertEqual(batch.header.lastSequence, 5)
            try batch.header.verifyCRC(in: batch.bytes, at: batch.bytes.readerIndex)
            let decoded = try RecordBatchDecoder.records(in: batch)
            XCTAssertEqual(decoded.map(\.offset), [40, 41, 42], "\(codec)")
            XCTAssertEqual(decoded.map(\.timestamp), records.map(\.timestamp), "\(codec)")
            XCTAssertEqual(decoded.map(\.key), records.map(\.key), "\(codec)")
            XCTAssertEqual(decoded.map(\.value), records.map(\.value), "\(codec)")
            XCTAssertEqual(decoded.map(\.headers), records.map(\.headers), "\(codec)")
        }
    }

    func testCompressionRoundTripsAndBoundsDecompression() throws {
        let data = Array((0..<200_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
        for codec in CompressionCodec.allCases where codec != .none {
            let compressed = try Compression.compress(data, codec: codec)
            XCTAssertLessThan(compressed.readableBytes, data.count, "\(codec) compresses")
            let restored = try Compression.decompress(compressed, codec: codec, maxSize: data.count)
            XCTAssertEqual(Array(restored.readableBytesView), data, "\(codec)")
            XCTAssertThrowsError(try Compression.decompress(compressed, codec: codec, maxSize: 1_000), "\(codec) bomb limit")
        }
    }

    func testSnappyReadsTheXerialFramingTheJavaClientWrites() throws {
        let data = Array(repeating: Array("xerial framed snappy ".utf8), count: 5_000).flatMap { $0 }
        let framed = try Compression.compressXerialSnappy(data)
        XCTAssertEqual(Array(framed.readableBytesView.prefix(8)), [0x82] + Array("SNAPPY".utf8) + [0])
        XCTAssertEqual(Array(try Compression.decompress(framed, codec: .snappy, maxSize: data.count).readableBytesView), data)
    }

    func testGzipFromTheCommandLineToolDecompresses() throws {
        let gzip = URL(fileURLWithPath: "/usr/bin/gzip")
        guard FileManager.default.isExecutableFile(atPath: gzip.path) else { throw XCTSkip("no gzip binary") }
        let process = Process()
        process.executableURL = gzip
        process.arguments = ["-c"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data("made by gzip(1)\n".utf8))
        try input.fileHandleForWriting.close()
        let compressed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let restored = try Compression.decompress(Array(compressed), codec: .gzip, maxSize: 1_000)
        XCTAssertEqual(String(decoding: restored.readableBytesView, as: UTF8.self), "made by gzip(1)\n")
    }
}

final class ProducedRecordsValidatorTests: XCTestCase {
    func batch(codec: CompressionCodec = .none, key: [UInt8]? = Array("k".utf8), producerId: Int64 = -1, baseSequence: Int32 = -1) throws -> StoredBatch {
        var builder = RecordBatchBuilder(codec: codec, producerId: producerId, producerEpoch: producerId >= 0 ? 0 : -1, baseSequence: baseSequence)
        builder.append(key: key, value: Array("value".utf8), timestamp: 1_000)
        builder.append(key: key, value: Array("value".utf8), timestamp: 1_001)
        return try builder.build()
    }

    func validate(_ bytes: ByteBuffer, maxBatchBytes: Int = 1 << 20, requireKeys: Bool = false) throws -> StoredBatch {
        try ProducedRecordsValidator.validate(bytes, maxBatchBytes: maxBatchBytes, requireKeys: requireKeys)
    }

    /// Applies `edit` to the batch bytes and recomputes the CRC, so only the edit is wrong.
    func edited(_ batch: StoredBatch, _ edit: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var bytes = batch.bytes
        edit(&bytes)
        let crc = CRC32C.checksum(bytes, at: bytes.readerIndex + 21, length: bytes.readableBytes - 21)
        bytes.setInteger(crc, at: bytes.readerIndex + 17)
        return bytes
    }

    func expect(_ bytes: ByteBuffer, _ expected: RecordBatchError.Type = RecordBatchError.self, code: Int16,
                requireKeys: Bool = false, maxBatchBytes: Int = 1 << 20, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try validate(bytes, maxBatchBytes: maxBatchBytes, requireKeys: requireKeys), file: file, line: line) { error in
            XCTAssertEqual((error as? RecordBatchError)?.kafkaErrorCode, code, "\(error)", file: file, line: line)
        }
    }

    func testAValidBatchIsAcceptedAsIs() throws {
        let good = try batch(codec: .lz4)
        XCTAssertEqual(try validate(good.bytes).bytes, good.bytes)
    }

    func testEveryFlippedByteUnderTheCRCIsCaught() throws {
        let good = try batch()
        for index in 21..<good.bytes.readableBytes {
            var bytes = good.bytes
            bytes.setInteger(bytes.getInteger(at: index, as: UInt8.self)! ^ 0x40, at: index)
            XCTAssertThrowsError(try validate(bytes), "flip at \(index)")
        }
    }

    func testEveryTruncationIsCaught() throws {
        let good = try batch()
        for length in 0..<good.bytes.readableBytes {
            XCTAssertThrowsError(try validate(good.bytes.getSlice(at: 0, length: length)!), "truncated to \(length)")
        }
    }

    func testStructuralLiesAreRefusedWithTheirCodes() throws {
        let good = try batch()
        var two = good.bytes
        two.writeImmutableBuffer(good.bytes)
        expect(two, code: 87)                                           // two batches
        var trailing = good.bytes
        trailing.writeBytes([1, 2, 3])
        expect(trailing, code: 2)                                       // trailing bytes
        expect(edited(good) { $0.setInteger(Int16(0x20), at: 21) }, code: 87)   // control batch
        expect(edited(good) { $0.setInteger(Int16(0x08), at: 21) }, code: 87)   // LogAppendTime
        expect(edited(good) { $0.setInteger(Int16(0x100), at: 21) }, code: 87)  // reserved bit
        expect(edited(good) { $0.setInteger(Int16(0x07), at: 21) }, code: 76)   // unknown codec
        expect(edited(good) { $0.setInteger(Int32(5), at: 57) }, code: 87)      // count != lastOffsetDelta + 1
        expect(edited(good) { $0.setInteger(Int32(5), at: 23); $0.setInteger(Int32(6), at: 57) }, code: 87) // count lies about records
        expect(good.bytes, code: 10, maxBatchBytes: 20)                 // too large
        expect(try batch(producerId: 9, baseSequence: -1).bytes, code: 87)   // idempotent without sequence
    }

    func testALyingRecordLengthInsideAnUncompressedBatchIsRefused() throws {
        let good = try batch()
        // The first record's length varint is the first byte after the header.
        expect(edited(good) { $0.setInteger(UInt8(0x7E), at: 61) }, code: 87)
    }

    func testCompactedTopicsNeedKeysEvenInCompressedBatches() throws {
        expect(try batch(key: nil).bytes, code: 87, requireKeys: true)
        expect(try batch(codec: .zstd, key: nil).bytes, code: 87, requireKeys: true)
        XCTAssertNoThrow(try validate(try batch(codec: .zstd, key: nil).bytes, requireKeys: false))
    }
}
