import KafkaProtocol
import NIOCore
import XCTest

final class TaggedFieldTests: XCTestCase {
    func testUnknownTagsInAFlexibleMessageAreSkipped() throws {
        let body: [UInt8] = [
            0x02, 0x6B,  // ClientSoftwareName "k"
            0x02, 0x31,  // ClientSoftwareVersion "1"
            0x02,  // two tagged fields
            0x05, 0x03, 0xAA, 0xBB, 0xCC,  // unknown tag 5, 3 bytes
            0x81, 0x01, 0x00,  // unknown tag 129 (two-byte varint), empty
            0x7E  // the next value in the frame
        ]
        var buffer = ByteBuffer(bytes: body)
        let request = try ApiVersionsRequest(from: &buffer, version: 3)
        XCTAssertEqual(request, ApiVersionsRequest(clientSoftwareName: "k", clientSoftwareVersion: "1"))
        XCTAssertEqual(try buffer.readKafkaInt8(what: "next"), 0x7E)
    }

    func testKnownAndUnknownTagsInANestedStruct() throws {
        // FetchResponse v12, one topic, one partition whose tagged section carries CurrentLeader
        // (tag 1) and an unknown tag 42.
        var buffer = ByteBuffer()
        buffer.writeKafkaInt32(0)  // ThrottleTimeMs
        buffer.writeKafkaInt16(0)  // ErrorCode
        buffer.writeKafkaInt32(0)  // SessionId
        buffer.writeUnsignedVarint32(2)  // Responses: 1
        try buffer.writeKafkaString("t", compact: true)  // Topic
        buffer.writeUnsignedVarint32(2)  // Partitions: 1
        buffer.writeKafkaInt32(3)  // PartitionIndex
        buffer.writeKafkaInt16(6)  // ErrorCode NOT_LEADER_OR_FOLLOWER
        buffer.writeKafkaInt64(100)  // HighWatermark
        buffer.writeKafkaInt64(90)  // LastStableOffset
        buffer.writeKafkaInt64(0)  // LogStartOffset
        buffer.writeUnsignedVarint32(0)  // AbortedTransactions: null
        buffer.writeKafkaInt32(-1)  // PreferredReadReplica
        buffer.writeUnsignedVarint32(0)  // Records: null
        buffer.writeUnsignedVarint32(2)  // two tagged fields
        buffer.writeKafkaTaggedField(tag: 1) {  // CurrentLeader
            $0.writeKafkaInt32(7)  // LeaderId
            $0.writeKafkaInt32(12)  // LeaderEpoch
            $0.writeEmptyKafkaTaggedFields()
        }
        buffer.writeKafkaTaggedField(tag: 42) { $0.writeBytes([1, 2, 3]) }
        buffer.writeEmptyKafkaTaggedFields()  // topic
        buffer.writeEmptyKafkaTaggedFields()  // response

        let response = try FetchResponse(from: &buffer, version: 12)
        XCTAssertEqual(buffer.readableBytes, 0)
        let partition = try XCTUnwrap(response.responses.first?.partitions.first)
        XCTAssertEqual(partition.partitionIndex, 3)
        XCTAssertEqual(partition.currentLeader, FetchResponse.LeaderIdAndEpoch(leaderId: 7, leaderEpoch: 12))
        XCTAssertEqual(partition.divergingEpoch, FetchResponse.EpochEndOffset(), "absent tag keeps its default")
        XCTAssertEqual(partition.divergingEpoch.epoch, -1)
        XCTAssertNil(partition.abortedTransactions)
        XCTAssertNil(partition.records)
    }

    func testTaggedStructIsOmittedWhenItEqualsItsDefault() throws {
        var partition = FetchResponse.PartitionData(partitionIndex: 0, records: ByteBuffer())
        var withoutLeader = ByteBuffer()
        try partition.encode(into: &withoutLeader, version: 12)
        partition.currentLeader = .init(leaderId: 1, leaderEpoch: 2)
        var withLeader = ByteBuffer()
        try partition.encode(into: &withLeader, version: 12)
        // Tag 1, size 9 (two INT32s and an empty tagged section) plus the count change 0 -> 1.
        XCTAssertEqual(withLeader.readableBytes - withoutLeader.readableBytes, 2 + 9)
        XCTAssertEqual(withoutLeader.getInteger(at: withoutLeader.writerIndex - 1, as: UInt8.self), 0)
    }

    func testTaggedFieldOfAFlexibleRequestRoundTrips() throws {
        let request = FetchRequest(clusterId: "cluster-a", replicaId: -1, maxWaitMs: 500, minBytes: 1)
        var buffer = ByteBuffer()
        try request.encode(into: &buffer, version: 12)
        XCTAssertEqual(try FetchRequest(from: &buffer, version: 12), request)

        // Versions without tagged fields never carry it.
        var v11 = ByteBuffer()
        try request.encode(into: &v11, version: 11)
        XCTAssertNil(try FetchRequest(from: &v11, version: 11).clusterId)
    }
}
