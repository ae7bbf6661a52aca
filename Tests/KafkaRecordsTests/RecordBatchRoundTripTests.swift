import NIOCore
import XCTest
@testable import KafkaRecords

final class RecordBatchGoldenTests: XCTestCase {
    /// A two-record batch written out by hand from the record format spec (RECORD-FORMAT.md §2, §4).
    /// The CRC was computed separately with a bit-by-bit CRC-32C over bytes 21..end.
    static let goldenBatch = hex(
        """
        00 00 00 00 00 00 00 00   baseOffset 0
        00 00 00 46               batchLength 70 (82 - 12)
        ff ff ff ff               partitionLeaderEpoch -1
        02                        magic
        f4 b9 1b b6               crc
        00 00                     attributes: no codec, CreateTime
        00 00 00 01               lastOffsetDelta 1
        00 00 00 00 00 00 03 e8   baseTimestamp 1000
        00 00 00 00 00 00 03 ed   maxTimestamp 1005
        ff ff ff ff ff ff ff ff   producerId -1
        ff ff                     producerEpoch -1
        ff ff ff ff               baseSequence -1
        00 00 00 02               recordsCount 2
        10                        record 0: length 8
        00 00 00                  attributes, timestampDelta 0, offsetDelta 0
        02 6b 02 76               key "k", value "v"
        00                        zero headers
        16                        record 1: length 11
        00 0a 02                  attributes, timestampDelta 5, offsetDelta 1
        01 04 76 76               null key, value "vv"
        02 02 68 01               one header: key "h", null value
        """.split(separator: "\n").map {
            $0.split(separator: " ").prefix { $0.count == 2 && $0.allSatisfy(\.isHexDigit) }.joined()
        }.joined())

    let goldenRecords = [
        Record(offset: 0, timestamp: 1000, key: utf8("k"), value: utf8("v")),
        Record(offset: 1, timestamp: 1005, key: nil, value: utf8("vv"), headers: [RecordHeader(key: "h", value: nil)])
    ]

    func testBuilderWritesTheSpecBytesExactly() throws {
        let batch = try buildBatch(goldenRecords)
        XCTAssertEqual(batch.bytes.allBytes, Self.goldenBatch)
    }

    func testDecoderReadsTheSpecBytes() throws {
        let batches = try RecordBatches.split(ByteBuffer(bytes: Self.goldenBatch), verifyCRC: true)
        XCTAssertEqual(batches.count, 1)
        XCTAssertEqual(try RecordBatchDecoder.records(in: batches[0]), goldenRecords)
    }
}

final class RecordBatchRoundTripTests: XCTestCase {
    func testEveryCodecRoundTripsKeysValuesNullsHeadersAndTimestamps() throws {
        for codec in CompressionCodec.allCases {
            let batch = try buildBatch(sampleRecords, codec: codec, baseOffset: 100)
            let header = batch.header
            XCTAssertEqual(header.compression, codec)
            XCTAssertEqual(header.recordsCount, Int32(sampleRecords.count))
            XCTAssertEqual(header.lastOffsetDelta, Int32(sampleRecords.count - 1))
            XCTAssertEqual(header.baseTimestamp, sampleRecords[0].timestamp)
            XCTAssertEqual(header.maxTimestamp, sampleRecords.map(\.timestamp).max())
            XCTAssertEqual(header.timestampType, .createTime)
            XCTAssertEqual(header.producerId, -1)
            XCTAssertEqual(header.baseSequence, -1)
            XCTAssertEqual(header.partitionLeaderEpoch, -1)
            XCTAssertNoThrow(try header.verifyCRC(in: batch.bytes, at: batch.bytes.readerIndex))

            let decoded = try RecordBatchDecoder.records(in: batch)
            let expected = sampleRecords.enumerated().map { index, record in
                var record = record
                record.offset = 100 + Int64(index)
                return record
            }
            XCTAssertEqual(decoded, expected, "\(codec)")
        }
    }

    func testCompressionShrinksRepetitiveBatches() throws {
        let records = (0..<200).map {
            Record(timestamp: Int64($0), key: utf8("key"), value: Array(repeating: 0x41, count: 200))
        }
        let plain = try buildBatch(records).bytes.readableBytes
        for codec in [CompressionCodec.gzip, .snappy, .lz4, .zstd] {
            XCTAssertLessThan(try buildBatch(records, codec: codec).bytes.readableBytes, plain / 4, "\(codec)")
        }
    }

    func testLogAppendTimeGivesEveryRecordTheBatchTimestamp() throws {
        let batch = try buildBatch(sampleRecords, codec: .lz4) { $0.logAppendTime = 42_000 }
        XCTAssertEqual(batch.header.timestampType, .logAppendTime)
        XCTAssertEqual(batch.header.maxTimestamp, 42_000)
        XCTAssertEqual(
            try RecordBatchDecoder.records(in: batch).map(\.timestamp),
            Array(repeating: 42_000, count: sampleRecords.count))
    }

    func testProducerFieldsAndFlagsLandInTheHeader() throws {
        let batch = try buildBatch(sampleRecords, codec: .zstd) {
            $0.producerId = 7
            $0.producerEpoch = 2
            $0.baseSequence = 10
            $0.isTransactional = true
            $0.partitionLeaderEpoch = 5
        }
        let header = batch.header
        XCTAssertEqual(header.producerId, 7)
        XCTAssertEqual(header.producerEpoch, 2)
        XCTAssertEqual(header.baseSequence, 10)
        XCTAssertEqual(header.lastSequence, 10 + Int32(sampleRecords.count - 1))
        XCTAssertTrue(header.isTransactional)
        XCTAssertFalse(header.isControl)
        XCTAssertEqual(header.attributes, 0x10 | CompressionCodec.zstd.rawValue)
        XCTAssertEqual(header.partitionLeaderEpoch, 5)
    }

    func testDecodingAControlBatchShowsTheMarker() throws {
        // COMMIT marker: key = version 0, type 1; value = version 0, coordinatorEpoch 3.
        let marker = Record(timestamp: 5, key: hex("0000 0001"), value: hex("0000 00000003"))
        let batch = try buildBatch([marker]) {
            $0.isControl = true
            $0.isTransactional = true
            $0.producerId = 9
        }
        XCTAssertTrue(batch.header.isControl)
        XCTAssertEqual(try RecordBatchDecoder.records(in: batch), [marker])
    }

    func testSplitBackToBackBatchesAndDecodeEach() throws {
        var wire = ByteBuffer()
        var first = try buildBatch(Array(sampleRecords.prefix(2)), codec: .gzip)
        var second = try buildBatch(Array(sampleRecords.suffix(3)), codec: .snappy, baseOffset: 2)
        wire.writeBuffer(&first.bytes)
        wire.writeBuffer(&second.bytes)
        let batches = try RecordBatches.split(wire, verifyCRC: true)
        let offsets = try batches.flatMap { try RecordBatchDecoder.records(in: $0) }.map(\.offset)
        XCTAssertEqual(offsets, [0, 1, 2, 3, 4])
    }
}

final class RecordBatchDecoderStrictnessTests: XCTestCase {
    /// One well-formed record body: key "k", value "v", no headers, offset delta `delta`.
    func record(delta: UInt8) -> [UInt8] { [0x10, 0x00, 0x00, delta * 2, 0x02, 0x6b, 0x02, 0x76, 0x00] }

    func decode(_ buffer: ByteBuffer) -> RecordBatchError? {
        expectError { () throws(RecordBatchError) in
            let batch = try RecordBatches.split(buffer, verifyCRC: true)[0]
            return try RecordBatchDecoder.records(in: batch)
        }
    }

    func testFewerRecordsThanTheHeaderAnnounces() {
        XCTAssertEqual(
            decode(handMadeBatch(area: record(delta: 0) + record(delta: 1), recordsCount: 3)),
            .corruptRecords("found 2 records, header announces 3"))
    }

    func testMoreRecordsThanTheHeaderAnnounces() {
        XCTAssertEqual(
            decode(handMadeBatch(area: record(delta: 0) + record(delta: 1), recordsCount: 1)),
            .corruptRecords("more than the 1 records the header announces"))
    }

    func testBytesAfterTheLastRecord() {
        XCTAssertNotNil(decode(handMadeBatch(area: record(delta: 0) + [0x00], recordsCount: 1)))
    }

    func testRecordLengthLongerThanItsFields() {
        var area = record(delta: 0) + [0x00]
        area[0] = 0x12  // 9 bytes claimed, 8 used
        XCTAssertEqual(
            decode(handMadeBatch(area: area, recordsCount: 1)),
            .corruptRecords("record 0 has 1 bytes beyond its fields"))
    }

    func testRecordLengthShorterThanItsFields() {
        var area = record(delta: 0)
        area[0] = 0x0e  // 7 bytes claimed, value then runs past the record end
        area.removeLast()
        XCTAssertNotNil(decode(handMadeBatch(area: area, recordsCount: 1)))
    }

    func testKeyLengthBeyondTheRecord() {
        var area = record(delta: 0)
        area[4] = 0x20  // key of 16 bytes in an 8-byte record
        XCTAssertNotNil(decode(handMadeBatch(area: area, recordsCount: 1)))
    }

    func testHugeHeaderCountInATinyRecordFailsFast() {
        // headerCount varint = Int32.max ("fe ff ff ff 0f") in a record with no room for headers.
        let area: [UInt8] = [0x16, 0x00, 0x00, 0x00, 0x01, 0x01, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00]
        XCTAssertNotNil(decode(handMadeBatch(area: area, recordsCount: 1)))
    }

    func testCompressedAreaWithTrailingGarbageAfterTheRecords() throws {
        let area = try Compression.compress(record(delta: 0) + [0x07, 0x07], codec: .zstd).allBytes
        XCTAssertNotNil(decode(handMadeBatch(area: area, recordsCount: 1, attributes: CompressionCodec.zstd.rawValue)))
    }

    func testCompactedBatchWithOffsetGapsDecodes() throws {
        // Compaction keeps offset deltas 0 and 2 of a three-record batch.
        let batch = try RecordBatches.split(
            handMadeBatch(
                area: record(delta: 0) + record(delta: 2), recordsCount: 2, lastOffsetDelta: 2, baseOffset: 50),
            verifyCRC: true)[0]
        XCTAssertEqual(try RecordBatchDecoder.records(in: batch).map(\.offset), [50, 52])
    }

    func testDecompressionLimitApplies() throws {
        let records = [Record(timestamp: 0, key: nil, value: Array(repeating: 0, count: 100_000))]
        let batch = try buildBatch(records, codec: .gzip)
        XCTAssertEqual(
            expectError { () throws(RecordBatchError) in
                try RecordBatchDecoder.records(in: batch, maxDecompressedBytes: 50_000)
            },
            .decompressedTooLarge(.gzip, limit: 50_000))
    }
}
