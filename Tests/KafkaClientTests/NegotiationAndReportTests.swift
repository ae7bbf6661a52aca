import KafkaProtocol
import NIOCore
import XCTest
@testable import KafkaClient

final class VersionNegotiationTests: XCTestCase {
    private func body(_ response: ApiVersionsResponse, version: Int16) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try response.encode(into: &buffer, version: version)
        return buffer
    }

    func testHighestCommonVersion() {
        XCTAssertEqual(BrokerAPIVersions.highestCommon(0...5, 2...9), 5)
        XCTAssertEqual(BrokerAPIVersions.highestCommon(3...9, 0...4), 4)
        XCTAssertEqual(BrokerAPIVersions.highestCommon(4...4, 4...12), 4)
        XCTAssertNil(BrokerAPIVersions.highestCommon(2...9, 0...1))
        let broker = BrokerAPIVersions(ranges: [3: 0...12, 9: 1...7], apiVersionsVersion: 3)
        XCTAssertEqual(broker.highestCommonVersion(.metadata, client: 0...9), 9)
        XCTAssertEqual(broker.highestCommonVersion(.offsetFetch, client: 2...9), 7)
        XCTAssertNil(broker.highestCommonVersion(.listGroups, client: 0...5), "not advertised")
    }

    func testNormalAnswerIsDecodedAtTheSentVersion() throws {
        let response = ApiVersionsResponse(
            errorCode: 0,
            apiKeys: [
                .init(apiKey: 3, minVersion: 0, maxVersion: 12),
                .init(apiKey: 18, minVersion: 0, maxVersion: 4)
            ])
        let step = try ApiVersionsNegotiation.step(
            body: try body(response, version: 4), sentVersion: 4, clientRange: 0...4)
        XCTAssertEqual(step, .done(BrokerAPIVersions(ranges: [3: 0...12, 18: 0...4], apiVersionsVersion: 4)))
    }

    func testUnsupportedVersionAnswerInTheV0LayoutLeadsToARetryWithTheBrokersMax() throws {
        // KIP-511: v0 layout, error 35, the broker's own ApiVersions range.
        let rejection = ApiVersionsResponse(errorCode: 35, apiKeys: [.init(apiKey: 18, minVersion: 0, maxVersion: 2)])
        XCTAssertEqual(
            try ApiVersionsNegotiation.step(body: try body(rejection, version: 0), sentVersion: 4, clientRange: 0...4),
            .retry(version: 2))
        // No usable range listed: v0 (the client's minimum), as librdkafka does.
        let bare = ApiVersionsResponse(errorCode: 35, apiKeys: [])
        XCTAssertEqual(
            try ApiVersionsNegotiation.step(body: try body(bare, version: 0), sentVersion: 4, clientRange: 0...4),
            .retry(version: 0))
        // Rejected at v0 as well: give up instead of looping.
        XCTAssertEqual(
            try ApiVersionsNegotiation.step(body: try body(bare, version: 0), sentVersion: 0, clientRange: 0...4),
            .failed(.unsupportedVersion))
        // Just the error code and nothing else still parses.
        var onlyCode = ByteBuffer()
        onlyCode.writeInteger(Int16(35))
        XCTAssertEqual(
            try ApiVersionsNegotiation.step(body: onlyCode, sentVersion: 3, clientRange: 0...4), .retry(version: 0))
    }

    func testOtherErrorsFail() throws {
        let response = ApiVersionsResponse(errorCode: .clusterAuthorizationFailed)
        XCTAssertEqual(
            try ApiVersionsNegotiation.step(body: try body(response, version: 3), sentVersion: 3, clientRange: 0...4),
            .failed(.clusterAuthorizationFailed))
    }

    func testClientTableCoversEveryOperation() {
        let table = ClientAPIVersions.implemented
        for api in [
            APIKey.apiVersions, .metadata, .listOffsets, .findCoordinator, .listGroups, .describeGroups, .offsetFetch
        ] {
            XCTAssertNotNil(table[api], "\(api)")
            XCTAssertTrue(api.requestType.validVersions.contains(table[api]!.upperBound), "\(api) beyond the schema")
        }
    }
}

final class GroupOffsetsReportTests: XCTestCase {
    func testLag() {
        XCTAssertEqual(GroupOffsetsReport.lag(committed: 5, logEnd: 12), 7)
        XCTAssertEqual(GroupOffsetsReport.lag(committed: 12, logEnd: 12), 0)
        XCTAssertNil(GroupOffsetsReport.lag(committed: nil, logEnd: 12))
        XCTAssertNil(GroupOffsetsReport.lag(committed: 5, logEnd: nil))
        XCTAssertNil(GroupOffsetsReport.lag(committed: -1, logEnd: 12), "-1 is 'nothing committed'")
        XCTAssertEqual(GroupOffsetsReport.lag(committed: 15, logEnd: 12), -3, "a truncated log shows, not hidden as 0")
    }

    private func member(_ id: String, _ partitions: [TopicPartition]) -> GroupMemberDescription {
        GroupMemberDescription(
            memberId: id, groupInstanceId: nil, clientId: "client-\(id)", clientHost: "/10.0.0.\(id.count)",
            metadata: [], rawAssignment: [], assignment: partitions, assignmentError: nil)
    }

    func testRowsJoinCommittedAssignedAndLogEnd() {
        let t0 = TopicPartition("t", 0), t1 = TopicPartition("t", 1), u0 = TopicPartition("u", 0)
        let description = GroupDescription(
            groupId: "g", state: "Stable", protocolType: "consumer", protocolName: "range",
            members: [member("m1", [t0, t1]), member("m2", [])], coordinator: BrokerNode(nodeId: 0, host: "h", port: 1),
            authorizedOperations: Int32.min)
        let report = GroupOffsetsReport(
            description: description,
            committed: [
                t0: CommittedOffset(offset: 3),
                u0: CommittedOffset(offset: 10)
            ],
            logEndOffsets: [
                t0: .success(ListedOffset(offset: 8, timestamp: -1, leaderEpoch: nil)),
                t1: .success(ListedOffset(offset: 4, timestamp: -1, leaderEpoch: nil)),
                u0: .failure(.broker(.leaderNotAvailable, message: nil, context: "ListOffsets"))
            ],
            groupId: "g")
        XCTAssertEqual(report.rows.map(\.partition), [t0, t1, u0])
        XCTAssertEqual(report.rows.map(\.committedOffset), [3, nil, 10])
        XCTAssertEqual(report.rows.map(\.logEndOffset), [8, 4, nil])
        XCTAssertEqual(report.rows.map(\.lag), [5, nil, nil])
        XCTAssertEqual(report.rows.map(\.memberId), ["m1", "m1", nil])
        XCTAssertEqual(report.rows.map(\.clientId), ["client-m1", "client-m1", nil])
        XCTAssertNotNil(report.rows[2].logEndError)
        XCTAssertEqual(report.membersWithoutPartitions.map(\.memberId), ["m2"])
        XCTAssertEqual(report.totalLag, 5)
    }

    func testConsumerAssignmentDecoding() throws {
        let assignment = ConsumerProtocolAssignment(assignedPartitions: [
            .init(topic: "b", partitions: [2, 0]), .init(topic: "a", partitions: [1])
        ])
        for version: Int16 in [0, 1, 3] {
            var buffer = ByteBuffer()
            buffer.writeInteger(version)
            try assignment.encode(into: &buffer, version: version)
            XCTAssertEqual(
                try decodeConsumerAssignment(Array(buffer.readableBytesView)),
                [TopicPartition("a", 1), TopicPartition("b", 0), TopicPartition("b", 2)])
        }
        // A newer version than the schema knows is read as the newest one (fields are only appended).
        var future = ByteBuffer()
        future.writeInteger(Int16(7))
        try assignment.encode(into: &future, version: 3)
        future.writeBytes([1, 2, 3])
        XCTAssertEqual(try decodeConsumerAssignment(Array(future.readableBytesView)).count, 3)
        XCTAssertEqual(try decodeConsumerAssignment([]), [])
        XCTAssertThrowsError(try decodeConsumerAssignment([0, 0, 0, 0, 0, 9]))
    }
}

final class ClientSettingsTests: XCTestCase {
    func testBrokerAddressParsing() throws {
        XCTAssertEqual(try BrokerAddress(parsing: "kafka-1:9093"), BrokerAddress(host: "kafka-1", port: 9093))
        XCTAssertEqual(try BrokerAddress(parsing: " localhost "), BrokerAddress(host: "localhost", port: 9092))
        XCTAssertEqual(try BrokerAddress(parsing: "[::1]:9094"), BrokerAddress(host: "::1", port: 9094))
        XCTAssertEqual(BrokerAddress(host: "::1", port: 9094).description, "[::1]:9094")
        XCTAssertEqual(
            try BrokerAddress.parseList("a:1, b:2,,c"),
            [BrokerAddress(host: "a", port: 1), BrokerAddress(host: "b", port: 2), BrokerAddress(host: "c", port: 9092)]
        )
        for bad in ["", "a:", "a:0", "a:70000", "a:x", "::1:9092", "[::1", ":9092"] {
            XCTAssertThrowsError(try BrokerAddress(parsing: bad), bad)
        }
        XCTAssertThrowsError(try BrokerAddress.parseList(" , "))
    }

    func testBackoffGrowsAndIsCapped() {
        let policy = RetryPolicy(
            maxAttempts: 10, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1), multiplier: 2)
        XCTAssertEqual(
            (1...6).map { policy.backoff(afterAttempt: $0) },
            [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
    }

    func testRetriableErrors() {
        let address = BrokerAddress(host: "h", port: 1)
        XCTAssertTrue(KafkaClientError.broker(.notCoordinator, message: nil, context: "").isRetriable)
        XCTAssertTrue(KafkaClientError.broker(.coordinatorLoadInProgress, message: nil, context: "").isRetriable)
        XCTAssertTrue(KafkaClientError.broker(.leaderNotAvailable, message: nil, context: "").isRetriable)
        XCTAssertTrue(KafkaClientError.broker(.notLeaderOrFollower, message: nil, context: "").isRetriable)
        XCTAssertTrue(KafkaClientError.connectionFailed(address, reason: "refused").isRetriable)
        XCTAssertFalse(KafkaClientError.broker(.groupAuthorizationFailed, message: nil, context: "").isRetriable)
        XCTAssertFalse(
            KafkaClientError.noCommonVersion(address, api: .listGroups, client: 0...5, broker: nil).isRetriable)
        XCTAssertEqual(KafkaErrorCode(16).name, "NOT_COORDINATOR")
        XCTAssertEqual(KafkaErrorCode(999).name, "error 999")
    }
}
