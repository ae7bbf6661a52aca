import NIOCore
import XCTest
@testable import KafkaRecords

/// Batches written by an independent client implementation: kafka-python 3.0.12's
/// `DefaultRecordBatchBuilder` (magic 2, producerId 7, epoch 1, baseSequence 42), with the
/// python-snappy, lz4 and zstandard packages. kafka-python leaves partitionLeaderEpoch at 0,
/// writes snappy with xerial framing and lz4 frames with a content size. Generated with:
///
/// ```python
/// b = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=0,
///                               producer_id=7, producer_epoch=1, base_sequence=42, batch_size=1 << 20)
/// b.append(0, 1700000000000, b"key-0", b"value-0" * (1 if codec == 0 else 20), [])
/// b.append(1, 1700000000500, None, b"no key", [("trace", b"abc"), ("empty", None)])
/// b.append(2, 1699999999000, b"tombstone", None, [])
/// bytes(b.build()).hex()
/// ```
final class KafkaPythonGoldenTests: XCTestCase {
    static let batches: [CompressionCodec: String] = [
        .none:
            "0000000000000000000000740000000002b627fa520000000000020000018bcfe568000000018bcfe569f4000000000000000700010000002a00000003240000000a6b65792d300e76616c75652d30003c00e80702010c6e6f206b6579040a7472616365066162630a656d707479012000cf0f0412746f6d6273746f6e650100",
        .gzip:
            "00000000000000000000008c00000000026ec210ba0001000000020000018bcfe568000000018bcfe569f4000000000000000700010000002a000000031f8b08004048046b02ffdbc0c4c0c0c0959d5aa96b3083a92c31a73455d76050500c360c2fd8991879f2f21580ae63e12a294a4c4e654b4c4ae64acd2d28a964546038cfcf2254929f9b545c929f97cac800002fed117dca000000",
        .snappy:
            "00000000000000000000009600000000029d56e3c50002000000020000018bcfe568000000018bcfe569f4000000000000000700010000002a0000000382534e4150505900000000010000000100000051ca014cb0020000000a6b65792d30980276616c75652d30fe0700fe07000507c0003c00e80702010c6e6f206b6579040a7472616365066162630a656d707479012000cf0f0412746f6d6273746f6e650100",
        .lz4:
            "00000000000000000000009400000000021d2ce54f0003000000020000018bcfe568000000018bcfe569f4000000000000000700010000002a0000000304224d186840ca00000000000000914c000000ff05b0020000000a6b65792d30980276616c75652d30070072f022003c00e80702010c6e6f206b6579040a7472616365066162630a656d707479012000cf0f0412746f6d6273746f6e65010000000000",
        .zstd:
            "00000000000000000000008700000000023c1c79b80004000000020000018bcfe568000000018bcfe569f4000000000000000700010000002a0000000328b52ffd20ca6d02005404b0020000000a6b65792d30980276616c75652d30003c00e80702010c6e6f206b6579040a7472616365066162630a656d707479012000cf0f0412746f6d6273746f6e650100010004a20a13"
    ]

    func expectedRecords(valueRepeats: Int) -> [Record] {
        [
            Record(
                offset: 0, timestamp: 1_700_000_000_000, key: utf8("key-0"),
                value: Array(Array(repeating: utf8("value-0"), count: valueRepeats).joined())),
            Record(
                offset: 1, timestamp: 1_700_000_000_500, key: nil, value: utf8("no key"),
                headers: [RecordHeader(key: "trace", value: utf8("abc")), RecordHeader(key: "empty", value: nil)]),
            Record(offset: 2, timestamp: 1_699_999_999_000, key: utf8("tombstone"), value: nil)
        ]
    }

    func testOurBuilderWritesTheSameBytesAsKafkaPython() throws {
        var builder = RecordBatchBuilder(partitionLeaderEpoch: 0, producerId: 7, producerEpoch: 1, baseSequence: 42)
        for record in expectedRecords(valueRepeats: 1) { builder.append(record) }
        XCTAssertEqual(try builder.build().bytes.allBytes, hex(Self.batches[.none]!))
    }

    func testEveryCodecFromKafkaPythonValidatesAndDecodes() throws {
        for codec in CompressionCodec.allCases {
            let wire = ByteBuffer(bytes: hex(Self.batches[codec]!))
            let batch = try ProducedRecordsValidator.validate(wire, maxBatchBytes: 1 << 20, requireKeys: false)
            XCTAssertEqual(batch.header.compression, codec)
            XCTAssertEqual(batch.header.producerId, 7)
            XCTAssertEqual(batch.header.lastSequence, 44)
            XCTAssertEqual(
                try RecordBatchDecoder.records(in: batch), expectedRecords(valueRepeats: codec == .none ? 1 : 20),
                "\(codec)")
            XCTAssertThrowsError(try ProducedRecordsValidator.validate(wire, maxBatchBytes: 1 << 20, requireKeys: true))
            { error in
                XCTAssertEqual(error as? RecordBatchError, .missingKey(offsetDelta: 1), "\(codec)")
            }
        }
    }

    func testKafkaPythonSnappyIsXerialFramedAndLZ4CarriesAContentSize() {
        let snappyArea = Array(hex(Self.batches[.snappy]!).dropFirst(RecordBatchHeader.size))
        XCTAssertEqual(Array(snappyArea.prefix(8)), Compression.xerialMagic)
        let lz4Area = Array(hex(Self.batches[.lz4]!).dropFirst(RecordBatchHeader.size))
        XCTAssertEqual(lz4Area[4] & 0x08, 0x08, "content size flag")
    }
}
