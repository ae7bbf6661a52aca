import Replication
import XCTest

/// Golden bytes written out by hand from MM2's schemas (connect/mirror-client):
/// STRING = INT16 length + UTF-8; integers big-endian; Checkpoint and Heartbeat values start
/// with INT16 version 0, OffsetSync values have no version.
final class MirrorFormatTests: XCTestCase {
    func testOffsetSyncGoldenBytes() throws {
        let sync = OffsetSync(topic: "orders", partition: 3, upstreamOffset: 1000, downstreamOffset: 998)
        XCTAssertEqual(try sync.key(), [0x00, 0x06] + Array("orders".utf8) + [0x00, 0x00, 0x00, 0x03])
        XCTAssertEqual(sync.value(), [0, 0, 0, 0, 0, 0, 0x03, 0xE8, 0, 0, 0, 0, 0, 0, 0x03, 0xE6])
        XCTAssertEqual(try OffsetSync(key: sync.key(), value: sync.value()), sync)
    }

    func testCheckpointGoldenBytes() throws {
        let checkpoint = Checkpoint(
            group: "g1", topic: "east.orders", partition: 0,
            upstreamOffset: 5, downstreamOffset: 7, metadata: "m")
        XCTAssertEqual(
            try checkpoint.key(),
            [0x00, 0x02] + Array("g1".utf8) + [0x00, 0x0B] + Array("east.orders".utf8) + [0, 0, 0, 0])
        XCTAssertEqual(
            try checkpoint.value(),
            [0x00, 0x00]  // version 0
                + [0, 0, 0, 0, 0, 0, 0, 5] + [0, 0, 0, 0, 0, 0, 0, 7]
                + [0x00, 0x01, UInt8(ascii: "m")])
        XCTAssertEqual(try Checkpoint(key: checkpoint.key(), value: checkpoint.value()), checkpoint)
    }

    func testHeartbeatGoldenBytes() throws {
        let heartbeat = Heartbeat(sourceClusterAlias: "east", targetClusterAlias: "west", timestamp: 1_700_000_000_000)
        XCTAssertEqual(try heartbeat.key(), [0x00, 0x04] + Array("east".utf8) + [0x00, 0x04] + Array("west".utf8))
        // 1_700_000_000_000 = 0x0000018BCFE56800
        XCTAssertEqual(heartbeat.value(), [0x00, 0x00, 0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00])
        XCTAssertEqual(try Heartbeat(key: heartbeat.key(), value: heartbeat.value()), heartbeat)
    }

    func testUTF8LengthsAreBytesNotCharacters() throws {
        let checkpoint = Checkpoint(
            group: "grüppe", topic: "t", partition: -1, upstreamOffset: -1, downstreamOffset: 0, metadata: "")
        let key = try checkpoint.key()
        XCTAssertEqual(Array(key.prefix(2)), [0x00, 0x07])
        XCTAssertEqual(Array(key.suffix(4)), [0xFF, 0xFF, 0xFF, 0xFF])
        XCTAssertEqual(try Checkpoint(key: key, value: checkpoint.value()), checkpoint)
        XCTAssertEqual(Array(try checkpoint.value().suffix(2)), [0x00, 0x00], "empty metadata is a zero-length string")
    }

    func testDecodingErrors() {
        XCTAssertThrowsError(try OffsetSync(key: [0x00, 0x06, 0x61], value: [UInt8](repeating: 0, count: 16))) {
            XCTAssertEqual($0 as? MirrorFormatError, .truncated(field: "topic"))
        }
        XCTAssertThrowsError(try OffsetSync(key: [0xFF, 0xFF], value: [])) {
            XCTAssertEqual($0 as? MirrorFormatError, .negativeStringLength(field: "topic", -1))
        }
        XCTAssertThrowsError(try OffsetSync(key: [0x00, 0x00, 0, 0, 0, 1], value: [UInt8](repeating: 0, count: 15))) {
            XCTAssertEqual($0 as? MirrorFormatError, .truncated(field: "offset"))
        }
        XCTAssertThrowsError(try Heartbeat(key: [0, 0, 0, 0], value: [0xFF, 0xFF] + [UInt8](repeating: 0, count: 8))) {
            XCTAssertEqual($0 as? MirrorFormatError, .unsupportedVersion(-1))
        }
        // Trailing bytes are ignored, as Java's Schema.read does (later versions may append fields).
        XCTAssertEqual(
            try Heartbeat(key: [0, 1, 0x61, 0, 1, 0x62], value: [0, 1] + [0, 0, 0, 0, 0, 0, 0, 9] + [0xAB]),
            Heartbeat(sourceClusterAlias: "a", targetClusterAlias: "b", timestamp: 9))
    }

    func testStringsLongerThanAKafkaStringAreRefused() {
        let long = String(repeating: "x", count: 32768)
        XCTAssertThrowsError(
            try Checkpoint(group: "g", topic: "t", partition: 0, upstreamOffset: 0, downstreamOffset: 0, metadata: long)
                .value()
        ) {
            XCTAssertEqual($0 as? MirrorFormatError, .stringTooLong(field: "metadata", bytes: 32768))
        }
        XCTAssertNoThrow(
            try Checkpoint(
                group: "g", topic: "t", partition: 0, upstreamOffset: 0, downstreamOffset: 0,
                metadata: String(repeating: "x", count: 32767)
            ).value())
    }

    func testTopicNames() {
        XCTAssertEqual(MirrorTopics.offsetSyncs(targetAlias: "west"), "mm2-offset-syncs.west.internal")
        XCTAssertEqual(MirrorTopics.checkpoints(sourceAlias: "east"), "east.checkpoints.internal")
        XCTAssertEqual(MirrorTopics.heartbeats, "heartbeats")
    }
}
