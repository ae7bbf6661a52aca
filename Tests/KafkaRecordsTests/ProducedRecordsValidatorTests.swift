import NIOCore
import XCTest
@testable import KafkaRecords

final class ProducedRecordsValidatorTests: XCTestCase {
    let limit = 1 << 20

    /// The validator's verdict: nil when the batch is accepted.
    func validate(
        _ buffer: ByteBuffer, maxBatchBytes: Int? = nil, requireKeys: Bool = false,
        acceptedTimestamps: ClosedRange<Int64>? = nil, maxDecompressedBytes: Int = 64 << 20
    ) -> RecordBatchError? {
        do {
            _ = try ProducedRecordsValidator.validate(
                buffer, maxBatchBytes: maxBatchBytes ?? limit, requireKeys: requireKeys,
                acceptedTimestamps: acceptedTimestamps,
                maxDecompressedBytes: maxDecompressedBytes)
            return nil  // accepted
        } catch {
            return error
        }
    }

    func keyedRecords() -> [Record] { sampleRecords.filter { $0.key != nil } }

    // MARK: Accepted

    func testWellFormedBatchesOfEveryCodecPassAndComeBackUntouched() throws {
        for codec in CompressionCodec.allCases {
            let batch = try buildBatch(sampleRecords, codec: codec) {
                $0.producerId = 3
                $0.producerEpoch = 0
                $0.baseSequence = 0
            }
            var wire = ByteBuffer(bytes: [0xEE, 0xEE])  // the batch need not start at index 0
            wire.moveReaderIndex(forwardBy: 2)
            wire.writeImmutableBuffer(batch.bytes)
            let validated = try ProducedRecordsValidator.validate(wire, maxBatchBytes: limit, requireKeys: false)
            XCTAssertEqual(validated.header, batch.header, "\(codec)")
            XCTAssertEqual(validated.bytes.allBytes, batch.bytes.allBytes, "\(codec)")
        }
    }

    func testKeyedBatchesPassOnCompactedTopicsForEveryCodec() throws {
        for codec in CompressionCodec.allCases {
            let batch = try buildBatch(keyedRecords(), codec: codec)
            XCTAssertNoThrow(
                try ProducedRecordsValidator.validate(batch.bytes, maxBatchBytes: limit, requireKeys: true), "\(codec)")
        }
    }

    func testSizeLimitIsInclusive() throws {
        let batch = try buildBatch(sampleRecords)
        let size = batch.bytes.readableBytes
        XCTAssertNoThrow(try ProducedRecordsValidator.validate(batch.bytes, maxBatchBytes: size, requireKeys: false))
        XCTAssertEqual(validate(batch.bytes, maxBatchBytes: size - 1), .batchTooLarge(size: size, limit: size - 1))
        XCTAssertEqual(RecordBatchError.batchTooLarge(size: size, limit: size - 1).kafkaErrorCode, 10)
    }

    // MARK: Framing of the batch in the request

    func testEmptyRecordsAreRefused() {
        XCTAssertEqual(validate(ByteBuffer()), .emptyRecords)
    }

    func testTwoBatchesAreRefused() throws {
        var wire = try buildBatch(sampleRecords).bytes
        wire.writeImmutableBuffer(try buildBatch(sampleRecords, baseOffset: 5).bytes)
        XCTAssertEqual(validate(wire), .multipleBatches)
        XCTAssertEqual(RecordBatchError.multipleBatches.kafkaErrorCode, 87)
    }

    func testTrailingGarbageIsRefused() throws {
        var wire = try buildBatch(sampleRecords).bytes
        wire.writeBytes([1, 2, 3])
        XCTAssertEqual(validate(wire), .trailingBytes(3))
    }

    func testLyingBatchLength() throws {
        let bytes = try buildBatch(sampleRecords).bytes.allBytes
        let batchLength = Int32(bytes.count - 12)
        var longer = bytes
        overwrite(&longer, at: 8, with: batchLength + 1)
        XCTAssertEqual(validate(ByteBuffer(bytes: longer)), .truncated(needed: bytes.count + 1, available: bytes.count))
        var shorter = bytes
        overwrite(&shorter, at: 8, with: batchLength - 1)
        XCTAssertEqual(validate(ByteBuffer(bytes: shorter)), .trailingBytes(1))
        var tiny = bytes
        overwrite(&tiny, at: 8, with: Int32(10))
        XCTAssertEqual(validate(ByteBuffer(bytes: tiny)), .invalidBatchLength(10))
        var negative = bytes
        overwrite(&negative, at: 8, with: Int32(-1))
        XCTAssertEqual(validate(ByteBuffer(bytes: negative)), .invalidBatchLength(-1))
    }

    func testTruncatedAtEveryByteIsRefused() throws {
        for codec in [CompressionCodec.none, .lz4] {
            let bytes = try buildBatch(sampleRecords, codec: codec).bytes.allBytes
            for length in 0..<bytes.count {
                let error = validate(ByteBuffer(bytes: bytes.prefix(length)))
                switch error {
                case .emptyRecords? where length == 0: break
                case .truncated?: break
                default: XCTFail("\(codec) cut to \(length) bytes: \(String(describing: error))")
                }
            }
        }
    }

    // MARK: Integrity

    func testEveryFlippedByteIsCaughtWhereTheCRCOrStructureCoversIt() throws {
        for codec in [CompressionCodec.none, .gzip] {
            let bytes = try buildBatch(sampleRecords, codec: codec).bytes.allBytes
            for position in bytes.indices {
                for mask: UInt8 in [0x01, 0x80, 0xFF] {
                    var damaged = bytes
                    damaged[position] ^= mask
                    let error = validate(ByteBuffer(bytes: damaged))
                    switch position {
                    case 0..<8:
                        // baseOffset is outside the CRC, but a client's batch must start at 0 (Kafka's rule).
                        guard case .nonZeroBaseOffset? = error else {
                            return XCTFail("baseOffset byte \(position) ^ \(mask): \(String(describing: error))")
                        }
                    case 12..<16:
                        // partitionLeaderEpoch is outside the CRC; the broker stamps its own.
                        XCTAssertNil(error, "byte \(position) is not covered by the CRC")
                    case 8..<12:
                        XCTAssertNotNil(error, "batchLength byte \(position)")
                    case 16:
                        XCTAssertEqual(error, .unsupportedMagic(Int8(bitPattern: 2 ^ mask)))
                    default:
                        guard case .crcMismatch? = error else {
                            return XCTFail("\(codec) byte \(position) ^ \(mask): \(String(describing: error))")
                        }
                    }
                }
            }
        }
        XCTAssertEqual(RecordBatchError.crcMismatch(stored: 1, computed: 2).kafkaErrorCode, 2)
    }

    // MARK: Attributes and header fields (edited, then re-sealed with a valid CRC)

    func testControlBatchesFromClientsAreRefused() throws {
        let batch = try buildBatch(sampleRecords) { $0.isControl = true }
        XCTAssertEqual(validate(batch.bytes), .controlBatchFromClient)
    }

    func testLogAppendTimeFromClientsIsRefused() throws {
        let batch = try buildBatch(sampleRecords) { $0.logAppendTime = 99 }
        XCTAssertEqual(validate(batch.bytes), .logAppendTimeFromClient)
        XCTAssertEqual(validate(batch.bytes)?.kafkaErrorCode, 32, "INVALID_TIMESTAMP, as Kafka answers")
    }

    func testABatchThatDoesNotStartAtOffsetZeroIsRefusedAsKafkaDoes() throws {
        // The stall this rule would have shown: a mirror forwarding a fetched batch at its source offset.
        for codec in [CompressionCodec.none, .lz4, .zstd] {
            let batch = try buildBatch(sampleRecords, codec: codec, baseOffset: 1382)
            let error = validate(batch.bytes)
            XCTAssertEqual(error, .nonZeroBaseOffset(1382), "\(codec)")
            XCTAssertEqual(error?.kafkaErrorCode, 87, "INVALID_RECORD")
            XCTAssertEqual(error?.description, "the baseOffset of the record batch should be 0, but it is 1382")
        }
        XCTAssertNil(validate(try buildBatch(sampleRecords, baseOffset: 0).bytes))
    }

    func testEveryRecordTimestampIsCheckedAgainstTheWindowNotOnlyTheHeaders() throws {
        // Timestamps 1000, 500 (the minimum, neither first nor largest), 2000.
        let records = [
            Record(timestamp: 1_000, key: [1], value: [1]), Record(timestamp: 500, key: [2], value: [2]),
            Record(timestamp: 2_000, key: [3], value: [3])
        ]
        for codec in [CompressionCodec.none, .gzip] {
            let batch = try buildBatch(records, codec: codec)
            XCTAssertNil(validate(batch.bytes, acceptedTimestamps: 500...2_000), "\(codec)")
            let early = validate(batch.bytes, acceptedTimestamps: 900...2_000)
            XCTAssertEqual(early, .timestampOutOfRange(timestamp: 500, offsetDelta: 1, accepted: 900...2_000))
            XCTAssertEqual(early?.kafkaErrorCode, 32, "INVALID_TIMESTAMP")
            XCTAssertEqual(
                validate(batch.bytes, acceptedTimestamps: 0...1_999),
                .timestampOutOfRange(timestamp: 2_000, offsetDelta: 2, accepted: 0...1_999))
        }
        // A record without a timestamp (-1) is not checked, as in Kafka.
        let untimed = try buildBatch([Record(timestamp: -1, key: [1], value: [1])])
        XCTAssertNil(validate(untimed.bytes, acceptedTimestamps: 100...200))
    }

    func testUnknownCodecIsRefused() throws {
        var bytes = try buildBatch(sampleRecords).bytes.allBytes
        overwrite(&bytes, at: 21, with: Int16(5))
        let error = validate(resealed(bytes))
        XCTAssertEqual(error, .unknownCompression(5))
        XCTAssertEqual(error?.kafkaErrorCode, 76)
    }

    func testReservedAttributeBitsAreRefused() throws {
        for bit in 7..<16 {
            var bytes = try buildBatch(sampleRecords).bytes.allBytes
            overwrite(&bytes, at: 21, with: Int16(truncatingIfNeeded: 1 << bit))
            XCTAssertEqual(validate(resealed(bytes)), .reservedAttributeBits(Int16(truncatingIfNeeded: 1 << bit)))
        }
    }

    func testRecordCountMustMatchLastOffsetDelta() throws {
        var bytes = try buildBatch(sampleRecords).bytes.allBytes
        overwrite(&bytes, at: 57, with: Int32(sampleRecords.count + 1))
        XCTAssertEqual(
            validate(resealed(bytes)),
            .invalidRecordCount(
                lastOffsetDelta: Int32(sampleRecords.count - 1), recordsCount: Int32(sampleRecords.count + 1)))
    }

    func testEmptyBatchIsRefused() {
        XCTAssertEqual(
            validate(handMadeBatch(area: [], recordsCount: 0)),
            .invalidRecordCount(lastOffsetDelta: -1, recordsCount: 0))
    }

    func testIdempotentBatchWithoutSequenceIsRefused() throws {
        let batch = try buildBatch(sampleRecords) { $0.producerId = 12 }
        XCTAssertEqual(validate(batch.bytes), .missingSequence(producerId: 12, baseSequence: -1))
    }

    // MARK: Record framing inside uncompressed batches

    func testHeaderAnnouncingMoreRecordsThanPresent() throws {
        var bytes = try buildBatch(sampleRecords).bytes.allBytes
        let count = Int32(sampleRecords.count + 1)
        overwrite(&bytes, at: 23, with: count - 1)
        overwrite(&bytes, at: 57, with: count)
        XCTAssertEqual(
            validate(resealed(bytes)), .corruptRecords("found \(count - 1) records, header announces \(count)"))
    }

    func testHeaderAnnouncingFewerRecordsThanPresent() throws {
        var bytes = try buildBatch(sampleRecords).bytes.allBytes
        overwrite(&bytes, at: 23, with: Int32(0))
        overwrite(&bytes, at: 57, with: Int32(1))
        XCTAssertEqual(validate(resealed(bytes)), .corruptRecords("more than the 1 records the header announces"))
    }

    func testEveryLyingFirstRecordLengthIsRefused() throws {
        let bytes = try buildBatch(sampleRecords).bytes.allBytes
        let honest = bytes[61]
        for lie in UInt8(0)..<0x80 where lie != honest {
            var damaged = bytes
            damaged[61] = lie
            guard case .corruptRecords? = validate(resealed(damaged)) else {
                return XCTFail("record length byte \(lie) accepted or mis-reported")
            }
        }
    }

    func testAnyResealedByteChangeInTheRecordsAreaIsNeverACrash() throws {
        // Inner damage with a valid CRC: either still a well-formed batch, or a structured error.
        let bytes = try buildBatch(Array(sampleRecords.prefix(4))).bytes.allBytes
        for position in 61..<bytes.count {
            for mask: UInt8 in [0x01, 0x40, 0x80, 0xFF] {
                var damaged = bytes
                damaged[position] ^= mask
                if let error = validate(resealed(damaged)) {
                    XCTAssertTrue([87, 2].contains(error.kafkaErrorCode), "\(error)")
                }
            }
        }
    }

    func testNonConsecutiveOffsetDeltasAreRefused() {
        let record0: [UInt8] = [0x10, 0x00, 0x00, 0x00, 0x02, 0x6b, 0x02, 0x76, 0x00]
        let record2: [UInt8] = [0x10, 0x00, 0x00, 0x04, 0x02, 0x6b, 0x02, 0x76, 0x00]
        XCTAssertEqual(
            validate(handMadeBatch(area: record0 + record2, recordsCount: 2)),
            .corruptRecords("record 1 has offset delta 2"))
    }

    // MARK: Compacted topics

    func testMissingKeyIsRefusedOnCompactedTopicsForEveryCodec() throws {
        for codec in CompressionCodec.allCases {
            let batch = try buildBatch(sampleRecords, codec: codec)  // record 1 has a null key
            XCTAssertEqual(validate(batch.bytes, requireKeys: true), .missingKey(offsetDelta: 1), "\(codec)")
            XCTAssertNil(validate(batch.bytes, requireKeys: false), "\(codec) without compaction")
        }
        XCTAssertEqual(RecordBatchError.missingKey(offsetDelta: 0).kafkaErrorCode, 87)
    }

    func testCompressedGarbageWithAValidCRCIsRefusedForEveryCodec() {
        // Garbage where the compressed records should be, CRC computed over it: Kafka decompresses
        // on produce and refuses it, so do we, with or without compaction.
        for codec in CompressionCodec.allCases where codec != .none {
            let batch = handMadeBatch(area: [1, 2, 3, 4, 5, 6, 7, 8], recordsCount: 1, attributes: codec.rawValue)
            for requireKeys in [false, true] {
                guard case .decompressionFailed(codec, _)? = validate(batch, requireKeys: requireKeys) else {
                    return XCTFail(
                        "expected a \(codec) decompression failure, got \(String(describing: validate(batch, requireKeys: requireKeys)))"
                    )
                }
            }
        }
    }

    func testCompressedRecordsWithBadFramingAreRefused() throws {
        // A valid lz4 frame holding two records where the header says one.
        let good = try buildBatch([Record(timestamp: 0, key: utf8("k"), value: utf8("v"))], codec: .lz4)
        let area = Array(good.bytes.readableBytesView.dropFirst(RecordBatchHeader.size))
        let records = Array(try Compression.decompress(area, codec: .lz4, maxSize: 1 << 20).readableBytesView)
        let doubled = try Compression.compress(records + records, codec: .lz4)
        let batch = handMadeBatch(
            area: Array(doubled.readableBytesView), recordsCount: 1, attributes: CompressionCodec.lz4.rawValue)
        guard case .corruptRecords? = validate(batch) else {
            return XCTFail("expected corrupt records, got \(String(describing: validate(batch)))")
        }
    }

    func testDecompressionBombOnACompactedTopic() throws {
        let records = [Record(timestamp: 0, key: utf8("k"), value: Array(repeating: 0, count: 1 << 20))]
        let batch = try buildBatch(records, codec: .zstd)
        let error = validate(batch.bytes, requireKeys: true, maxDecompressedBytes: 64 * 1024)
        XCTAssertEqual(error, .decompressedTooLarge(.zstd, limit: 64 * 1024))
        XCTAssertEqual(
            validate(batch.bytes, requireKeys: false, maxDecompressedBytes: 64 * 1024),
            .decompressedTooLarge(.zstd, limit: 64 * 1024))
        XCTAssertEqual(error?.kafkaErrorCode, 10)
    }
}
