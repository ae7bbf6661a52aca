import KafkaProtocol
import NIOCore
import XCTest

final class PrimitivesTests: XCTestCase {
    // MARK: Varints

    func testUnsignedVarintEncodingsAtGroupBoundaries() throws {
        let cases: [(UInt32, [UInt8])] = [
            (0, [0x00]),
            (1, [0x01]),
            (127, [0x7F]),
            (128, [0x80, 0x01]),
            (300, [0xAC, 0x02]),
            (16_383, [0xFF, 0x7F]),
            (16_384, [0x80, 0x80, 0x01]),
            (UInt32.max, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        ]
        for (value, bytes) in cases {
            var buffer = ByteBuffer()
            buffer.writeUnsignedVarint32(value)
            XCTAssertEqual(buffer.readableBytesView.map { $0 }, bytes, "encoding \(value)")
            XCTAssertEqual(unsignedVarintSize(UInt64(value)), bytes.count)
            XCTAssertEqual(try buffer.readUnsignedVarint32(what: "v"), value)
            XCTAssertEqual(buffer.readableBytes, 0)
        }
    }

    func testUnsignedVarint64RoundTripsItsExtremes() throws {
        for value in [UInt64(0), 1 << 35, UInt64(Int64.max), UInt64.max] {
            var buffer = ByteBuffer()
            buffer.writeUnsignedVarint64(value)
            XCTAssertEqual(try buffer.readUnsignedVarint64(what: "v"), value)
        }
        var maximum = ByteBuffer()
        maximum.writeUnsignedVarint64(.max)
        XCTAssertEqual(maximum.readableBytes, 10)
    }

    func testUnsignedVarintLongerThanFiveBytesIsRejected() {
        var buffer = ByteBuffer(bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x01])
        XCTAssertThrowsError(try buffer.readUnsignedVarint32(what: "v")) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .varintTooLong)
        }
        var long64 = ByteBuffer(bytes: [UInt8](repeating: 0xFF, count: 11))
        XCTAssertThrowsError(try long64.readUnsignedVarint64(what: "v")) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .varintTooLong)
        }
    }

    func testTruncatedVarintThrowsAndConsumesNothing() {
        var buffer = ByteBuffer(bytes: [0x80, 0x80])
        XCTAssertThrowsError(try buffer.readUnsignedVarint32(what: "count")) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .truncated(what: "count"))
        }
        XCTAssertEqual(buffer.readerIndex, 0)
    }

    func testZigZagVarints() throws {
        let cases: [(Int32, [UInt8])] = [(0, [0x00]), (-1, [0x01]), (1, [0x02]), (-64, [0x7F]), (64, [0x80, 0x01])]
        for (value, bytes) in cases {
            var buffer = ByteBuffer()
            buffer.writeVarint32(value)
            XCTAssertEqual(buffer.readableBytesView.map { $0 }, bytes, "encoding \(value)")
            XCTAssertEqual(try buffer.readVarint32(what: "v"), value)
        }
        for value in [Int64.min, -1, 0, Int64.max] {
            var buffer = ByteBuffer()
            buffer.writeVarint64(value)
            XCTAssertEqual(try buffer.readVarint64(what: "v"), value)
        }
        var minimum = ByteBuffer()
        minimum.writeVarint32(.min)
        XCTAssertEqual(try minimum.readVarint32(what: "v"), .min)
    }

    // MARK: Fixed width

    func testFixedWidthValuesAreBigEndian() throws {
        var buffer = ByteBuffer()
        buffer.writeKafkaInt16(0x0102)
        buffer.writeKafkaInt32(-2)
        buffer.writeKafkaUInt16(0xFFFE)
        buffer.writeKafkaFloat64(1.5)
        buffer.writeKafkaBool(true)
        XCTAssertEqual(
            buffer.readableBytesView.map { $0 },
            [0x01, 0x02, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFE, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0x01])
        XCTAssertEqual(try buffer.readKafkaInt16(what: "a"), 0x0102)
        XCTAssertEqual(try buffer.readKafkaInt32(what: "b"), -2)
        XCTAssertEqual(try buffer.readKafkaUInt16(what: "c"), 0xFFFE)
        XCTAssertEqual(try buffer.readKafkaFloat64(what: "d"), 1.5)
        XCTAssertEqual(try buffer.readKafkaBool(what: "e"), true)
        XCTAssertThrowsError(try buffer.readKafkaInt64(what: "f")) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .truncated(what: "f"))
        }
    }

    // MARK: Strings

    func testClassicAndCompactStrings() throws {
        var buffer = ByteBuffer()
        try buffer.writeKafkaString("abc", compact: false)
        try buffer.writeKafkaString("abc", compact: true)
        try buffer.writeKafkaNullableString(nil, compact: false)
        try buffer.writeKafkaNullableString(nil, compact: true)
        try buffer.writeKafkaString("", compact: true)
        XCTAssertEqual(
            buffer.readableBytesView.map { $0 },
            [0x00, 0x03, 0x61, 0x62, 0x63, 0x04, 0x61, 0x62, 0x63, 0xFF, 0xFF, 0x00, 0x01])
        XCTAssertEqual(try buffer.readKafkaString(compact: false, what: "a"), "abc")
        XCTAssertEqual(try buffer.readKafkaNullableString(compact: true, what: "b"), "abc")
        XCTAssertNil(try buffer.readKafkaNullableString(compact: false, what: "c"))
        XCTAssertNil(try buffer.readKafkaNullableString(compact: true, what: "d"))
        XCTAssertEqual(try buffer.readKafkaString(compact: true, what: "e"), "")
    }

    func testMultiByteUTF8LengthsCountBytes() throws {
        var buffer = ByteBuffer()
        try buffer.writeKafkaString("ü€", compact: true)
        XCTAssertEqual(buffer.getInteger(at: 0, as: UInt8.self), 6)  // 5 bytes + 1
        XCTAssertEqual(try buffer.readKafkaString(compact: true, what: "s"), "ü€")
    }

    func testNullForANonNullableStringIsRejected() {
        var classic = ByteBuffer(bytes: [0xFF, 0xFF])
        XCTAssertThrowsError(try classic.readKafkaString(compact: false, what: "Name")) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .unexpectedNull(what: "Name"))
        }
        var compact = ByteBuffer(bytes: [0x00])
        XCTAssertThrowsError(try compact.readKafkaString(compact: true, what: "Name")) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .unexpectedNull(what: "Name"))
        }
    }

    func testInvalidUTF8IsRejected() {
        var buffer = ByteBuffer(bytes: [0x00, 0x02, 0xC3, 0x28])
        XCTAssertThrowsError(try buffer.readKafkaString(compact: false, what: "Topic")) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .invalidUTF8(what: "Topic"))
        }
    }

    func testNegativeLengthOtherThanNullIsRejected() {
        var buffer = ByteBuffer(bytes: [0xFF, 0xFE, 0x61])
        XCTAssertThrowsError(try buffer.readKafkaNullableString(compact: false, what: "s")) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .negativeLength(what: "s", -2))
        }
    }

    func testStringLongerThanAnInt16LengthCannotBeEncoded() {
        var buffer = ByteBuffer()
        let long = String(repeating: "x", count: 40_000)
        XCTAssertThrowsError(try buffer.writeKafkaString(long, compact: false, what: "ClientId")) { error in
            XCTAssertEqual(error as? KafkaEncodingError, .valueTooLarge(what: "ClientId", 40_000))
        }
        XCTAssertNoThrow(try buffer.writeKafkaString(long, compact: true))
    }

    // MARK: Malformed lengths

    /// Declared lengths far beyond the frame are rejected before anything is allocated (the
    /// error carries the declared length, the buffer holds only a few bytes).
    func testHugeDeclaredLengthsAreRejectedBeforeAllocating() {
        var bytes = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF, 0x01, 0x02])
        XCTAssertThrowsError(try bytes.readKafkaBytes(compact: false, what: "Metadata")) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .lengthTooLarge(what: "Metadata", Int(Int32.max)))
        }
        var records = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00])  // compact: UInt32.max - 1
        XCTAssertThrowsError(try records.readKafkaRecords(compact: true, what: "Records")) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .lengthTooLarge(what: "Records", Int(UInt32.max) - 1))
        }
        var array = ByteBuffer(bytes: [0x40, 0x00, 0x00, 0x00, 0x00])
        XCTAssertThrowsError(
            try array.readKafkaArray(compact: false, what: "Topics") { try $0.readKafkaInt8(what: "x") }
        ) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .lengthTooLarge(what: "Topics", 0x4000_0000))
        }
        var string = ByteBuffer(bytes: [0x00, 0x05, 0x61])
        XCTAssertThrowsError(try string.readKafkaString(compact: false, what: "Name")) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .lengthTooLarge(what: "Name", 5))
        }
    }

    func testMalformedMessageLengthsAreRejected() {
        // ProduceRequest v9: null transactional id, acks, timeout, then a compact array claiming
        // two billion topics in a 9-byte frame.
        var frame = ByteBuffer(bytes: [0x00, 0xFF, 0xFF, 0x00, 0x00, 0x75, 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x07])
        XCTAssertThrowsError(try ProduceRequest(from: &frame, version: 9)) { error in
            XCTAssertEqual(
                error as? KafkaDecodingError, .lengthTooLarge(what: "ProduceRequest.TopicData", Int(Int32.max) - 1))
        }
    }

    // MARK: Bytes and records

    func testBytesClassicCompactAndNull() throws {
        var buffer = ByteBuffer()
        try buffer.writeKafkaBytes([1, 2], compact: false)
        try buffer.writeKafkaNullableBytes(nil, compact: false)
        try buffer.writeKafkaBytes([3], compact: true)
        try buffer.writeKafkaNullableBytes(nil, compact: true)
        XCTAssertEqual(
            buffer.readableBytesView.map { $0 },
            [0, 0, 0, 2, 1, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0x03, 0x00])
        XCTAssertEqual(try buffer.readKafkaBytes(compact: false, what: "a"), [1, 2])
        XCTAssertNil(try buffer.readKafkaNullableBytes(compact: false, what: "b"))
        XCTAssertEqual(try buffer.readKafkaBytes(compact: true, what: "c"), [3])
        XCTAssertNil(try buffer.readKafkaNullableBytes(compact: true, what: "d"))
    }

    func testRecordsAreReadAsAZeroCopySlice() throws {
        var buffer = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x03, 0xAA, 0xBB, 0xCC, 0x99])
        let records = try XCTUnwrap(try buffer.readKafkaRecords(compact: false, what: "Records"))
        XCTAssertEqual(records.readableBytesView.map { $0 }, [0xAA, 0xBB, 0xCC])
        let frameStart = buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        let recordsStart = records.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        XCTAssertEqual(recordsStart, frameStart + 4, "records must point into the frame's storage")
        XCTAssertEqual(try buffer.readKafkaInt8(what: "next"), Int8(bitPattern: 0x99))

        var null = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x00])
        XCTAssertNil(try null.readKafkaRecords(compact: false, what: "Records"))
        XCTAssertNil(try null.readKafkaRecords(compact: true, what: "Records"))
    }

    // MARK: Arrays

    func testArraysClassicCompactAndNull() throws {
        var buffer = ByteBuffer()
        try buffer.writeKafkaArray([Int32(7)], compact: false) { $0.writeKafkaInt32($1) }
        try buffer.writeKafkaNullableArray([Int32]?.none, compact: false) { $0.writeKafkaInt32($1) }
        try buffer.writeKafkaArray([Int32(7)], compact: true) { $0.writeKafkaInt32($1) }
        try buffer.writeKafkaNullableArray([Int32]?.none, compact: true) { $0.writeKafkaInt32($1) }
        XCTAssertEqual(
            buffer.readableBytesView.map { $0 },
            [0, 0, 0, 1, 0, 0, 0, 7, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0, 0, 0, 7, 0x00])
        XCTAssertEqual(try buffer.readKafkaArray(compact: false, what: "a") { try $0.readKafkaInt32(what: "e") }, [7])
        XCTAssertNil(try buffer.readKafkaNullableArray(compact: false, what: "b") { try $0.readKafkaInt32(what: "e") })
        XCTAssertEqual(try buffer.readKafkaArray(compact: true, what: "c") { try $0.readKafkaInt32(what: "e") }, [7])
        XCTAssertThrowsError(try buffer.readKafkaArray(compact: true, what: "d") { try $0.readKafkaInt32(what: "e") }) {
            error in
            XCTAssertEqual(error as? KafkaDecodingError, .unexpectedNull(what: "d"))
        }
    }

    // MARK: Tagged fields

    func testTaggedFieldsAreWrittenWithTheirSizeAndSkippedWhenUnknown() throws {
        var buffer = ByteBuffer()
        buffer.writeUnsignedVarint32(2)
        buffer.writeKafkaTaggedField(tag: 0) { $0.writeKafkaInt16(0x0102) }
        let large = [UInt8](repeating: 0xAB, count: 200)  // size needs a two-byte varint
        buffer.writeKafkaTaggedField(tag: 7) { $0.writeBytes(large) }
        buffer.writeKafkaInt8(0x55)
        XCTAssertEqual(buffer.getBytes(at: 0, length: 5), [0x02, 0x00, 0x02, 0x01, 0x02])
        XCTAssertEqual(buffer.getBytes(at: 5, length: 3), [0x07, 0xC8, 0x01])

        var reader = buffer
        XCTAssertEqual(try reader.readKafkaTaggedFieldCount(what: "t"), 2)
        let first = try reader.readKafkaTaggedField(what: "t")
        XCTAssertEqual(first.tag, 0)
        XCTAssertEqual(first.body.readableBytesView.map { $0 }, [0x01, 0x02])
        let second = try reader.readKafkaTaggedField(what: "t")
        XCTAssertEqual(second.tag, 7)
        XCTAssertEqual(second.body.readableBytesView.map { $0 }, large)

        try buffer.skipKafkaTaggedFields(what: "t")
        XCTAssertEqual(try buffer.readKafkaInt8(what: "after"), 0x55)
    }

    func testTaggedFieldSizeBeyondTheBufferIsRejected() {
        var buffer = ByteBuffer(bytes: [0x01, 0x05, 0x10, 0x00])
        XCTAssertThrowsError(try buffer.skipKafkaTaggedFields(what: "tags")) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .lengthTooLarge(what: "tags", 16))
        }
    }

    // MARK: UUIDs

    func testUUIDTextIsURLSafeBase64WithoutPadding() throws {
        XCTAssertEqual(KafkaUUID.zero.description, "AAAAAAAAAAAAAAAAAAAAAA")
        let sequential = try XCTUnwrap(KafkaUUID(bytes: Array(0..<16)))
        XCTAssertEqual(sequential, KafkaUUID(high: 0x0001_0203_0405_0607, low: 0x0809_0A0B_0C0D_0E0F))
        XCTAssertEqual(sequential.description, "AAECAwQFBgcICQoLDA0ODw")
        let allOnes = KafkaUUID(high: .max, low: .max)
        XCTAssertEqual(allOnes.description, "_____________________w")
        XCTAssertEqual(KafkaUUID("AAECAwQFBgcICQoLDA0ODw"), sequential)
        XCTAssertEqual(KafkaUUID("_____________________w=="), allOnes)
        XCTAssertNil(KafkaUUID("not a uuid"))
    }

    func testUUIDWireFormatAndRandomUUIDs() throws {
        let uuid = KafkaUUID(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C_0D0E_0F10)
        var buffer = ByteBuffer()
        buffer.writeKafkaUUID(uuid)
        XCTAssertEqual(buffer.readableBytesView.map { $0 }, Array(1...16))
        XCTAssertEqual(try buffer.readKafkaUUID(what: "id"), uuid)

        var generator = SeededGenerator(state: 42)
        for _ in 0..<200 {
            let random = KafkaUUID.random(using: &generator)
            XCTAssertNotEqual(random, .zero)
            XCTAssertFalse(random.description.hasPrefix("-"))
            XCTAssertEqual(random.high >> 12 & 0xF, 4, "version 4")
            XCTAssertEqual(KafkaUUID(random.description), random)
        }
        XCTAssertNotEqual(KafkaUUID.random(), KafkaUUID.random())
    }
}

/// A deterministic SplitMix64 generator, so UUID tests do not depend on luck.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
