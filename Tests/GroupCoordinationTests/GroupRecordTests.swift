import GroupCoordination
import XCTest

final class GroupRecordTests: XCTestCase {
    let samples: [GroupRecord] = [
        .offset(
            OffsetCommitRecord(
                groupId: "g", topic: "orders", partition: 2, offset: 1234, leaderEpoch: 4, metadata: "m",
                commitTimestampMs: 99)),
        .group(
            GroupMetadataRecord(
                groupId: "g", protocolType: "consumer", generationId: 7, protocolName: "range", leaderId: "a-1",
                stateTimestampMs: 5,
                members: [
                    .init(
                        memberId: "a-1", groupInstanceId: nil, clientId: "a", clientHost: "/10.0.0.1",
                        rebalanceTimeoutMs: 20_000,
                        sessionTimeoutMs: 10_000, subscription: [0, 1, 2], assignment: [3]),
                    .init(
                        memberId: "b-1", groupInstanceId: "host-b", clientId: "b", clientHost: "/10.0.0.2",
                        rebalanceTimeoutMs: 1,
                        sessionTimeoutMs: 2, subscription: [], assignment: [])
                ])),
        .group(
            GroupMetadataRecord(
                groupId: "simple", protocolType: nil, generationId: 0, protocolName: nil, leaderId: nil,
                stateTimestampMs: 0, members: [])),
        .groupTombstone(groupId: "g"),
        .offsetTombstone(groupId: "g", topic: "orders", partition: 2),
        .offset(
            OffsetCommitRecord(
                groupId: "g", topic: "orders", partition: 1, offset: 7, leaderEpoch: -1, metadata: "",
                commitTimestampMs: 99,
                expireTimestampMs: 5_099))
    ]

    func testEveryRecordKindRoundTrips() throws {
        for record in samples {
            XCTAssertEqual(try GroupRecord(key: record.encodedKey(), value: record.encodedValue()), record)
        }
    }

    func testRecordsWithTheSameKeyShareKeyBytes() {
        XCTAssertEqual(samples[0].encodedKey(), samples[4].encodedKey())
        XCTAssertEqual(samples[1].encodedKey(), samples[3].encodedKey())
        XCTAssertNotEqual(samples[1].encodedKey(), samples[2].encodedKey())
        XCTAssertNil(samples[3].encodedValue())
    }

    func testOffsetCommitLayout() {
        let record = samples[0]
        XCTAssertEqual(record.encodedKey(), [0, 1, 2, 0x67, 7] + Array("orders".utf8) + [0, 0, 0, 2])
        XCTAssertEqual(
            record.encodedValue(),
            [0, 0] + bigEndian(Int64(1234)) + bigEndian(Int32(4)) + [2, 0x6D] + bigEndian(Int64(99)))
    }

    /// A commit with its own expiry time (OffsetCommit v2-v4 retention_time_ms) is value version 1:
    /// version 0's fields, then the expiry time.
    func testOffsetCommitWithAnExpiryTimeLayout() {
        XCTAssertEqual(
            samples[5].encodedValue(),
            [0, 1] + bigEndian(Int64(7)) + bigEndian(Int32(-1)) + [1] + bigEndian(Int64(99)) + bigEndian(Int64(5_099)))
    }

    func testUnknownOrDamagedRecordsAreRejected() {
        XCTAssertThrowsError(try GroupRecord(key: [0, 9, 2, 0x67], value: nil)) {
            XCTAssertEqual($0 as? GroupRecordDecodingError, .unknownKeyType(9))
        }
        var futureValue = samples[0].encodedValue()!
        futureValue[1] = 2
        XCTAssertThrowsError(try GroupRecord(key: samples[0].encodedKey(), value: futureValue)) {
            XCTAssertEqual($0 as? GroupRecordDecodingError, .unknownValueVersion(2))
        }
        var futureGroup = samples[1].encodedValue()!
        futureGroup[1] = 1
        XCTAssertThrowsError(try GroupRecord(key: samples[1].encodedKey(), value: futureGroup)) {
            XCTAssertEqual($0 as? GroupRecordDecodingError, .unknownValueVersion(1))
        }
        XCTAssertThrowsError(
            try GroupRecord(key: samples[1].encodedKey(), value: Array(samples[1].encodedValue()!.dropLast())))
        XCTAssertThrowsError(try GroupRecord(key: samples[0].encodedKey(), value: samples[0].encodedValue()! + [0]))
        XCTAssertThrowsError(try GroupRecord(key: [], value: nil))
    }
}
