import NIOCore
import XCTest
@testable import KafkaRecords

final class VarintTests: XCTestCase {
    func testVectorsFromTheRecordFormatDocument() throws {
        let vectors: [(Int32, String)] = [
            (0, "00"), (-1, "01"), (1, "02"), (64, "80 01"),
            (63, "7e"), (-64, "7f"), (-65, "81 01"),
            (Int32.max, "fe ff ff ff 0f"), (Int32.min, "ff ff ff ff 0f")
        ]
        for (value, encoded) in vectors {
            var buffer = ByteBuffer()
            let written = buffer.writeVarint(value)
            XCTAssertEqual(buffer.allBytes, hex(encoded), "varint \(value)")
            XCTAssertEqual(written, hex(encoded).count)
            XCTAssertEqual(ByteBuffer.varintSize(value), written, "size of \(value)")
            XCTAssertEqual(try buffer.readVarint(), value)
            XCTAssertEqual(buffer.readableBytes, 0)
        }
    }

    func testVarlongExtremes() throws {
        let vectors: [(Int64, String)] = [
            (0, "00"), (-1, "01"), (1, "02"), (64, "80 01"),
            (Int64(Int32.max) + 1, "80 80 80 80 10"),
            (Int64.max, "fe ff ff ff ff ff ff ff ff 01"), (Int64.min, "ff ff ff ff ff ff ff ff ff 01")
        ]
        for (value, encoded) in vectors {
            var buffer = ByteBuffer()
            XCTAssertEqual(buffer.writeVarlong(value), hex(encoded).count)
            XCTAssertEqual(buffer.allBytes, hex(encoded), "varlong \(value)")
            XCTAssertEqual(ByteBuffer.varlongSize(value), hex(encoded).count)
            XCTAssertEqual(try buffer.readVarlong(), value)
        }
    }

    func testRoundTripAcrossEveryEncodedLength() throws {
        var values: [Int64] = [0]
        for shift in 0..<63 {
            let magnitude = Int64(1) << shift
            values += [magnitude - 1, magnitude, -magnitude, -magnitude - 1]
        }
        var buffer = ByteBuffer()
        for value in values { buffer.writeVarlong(value) }
        for value in values { XCTAssertEqual(try buffer.readVarlong(), value) }
        for value in values where Int64(Int32.min)...Int64(Int32.max) ~= value { buffer.writeVarint(Int32(value)) }
        for value in values where Int64(Int32.min)...Int64(Int32.max) ~= value {
            XCTAssertEqual(try buffer.readVarint(), Int32(value))
        }
        XCTAssertEqual(buffer.readableBytes, 0)
    }

    func testTruncatedVarintThrowsAndLeavesTheReaderIndexAlone() {
        var buffer = ByteBuffer(bytes: hex("80 80"))
        XCTAssertEqual(
            expectError { () throws(RecordBatchError) in try buffer.readVarint() }, .corruptRecords("varint truncated"))
        XCTAssertEqual(buffer.readableBytes, 2)
        var empty = ByteBuffer()
        XCTAssertNotNil(expectError { () throws(RecordBatchError) in try empty.readVarlong() })
    }

    func testOverlongEncodingsAreRefused() {
        // Six bytes for an int32, a fifth byte with bits beyond 32, eleven bytes for an int64.
        for encoded in ["ff ff ff ff ff 01", "ff ff ff ff 1f", "80 80 80 80 80 00"] {
            var buffer = ByteBuffer(bytes: hex(encoded))
            XCTAssertNotNil(expectError { () throws(RecordBatchError) in try buffer.readVarint() }, encoded)
        }
        for encoded in ["ff ff ff ff ff ff ff ff ff ff 01", "ff ff ff ff ff ff ff ff ff 03"] {
            var buffer = ByteBuffer(bytes: hex(encoded))
            XCTAssertNotNil(expectError { () throws(RecordBatchError) in try buffer.readVarlong() }, encoded)
        }
    }
}
