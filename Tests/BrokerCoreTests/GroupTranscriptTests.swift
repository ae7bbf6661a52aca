import BrokerCore
import Foundation
import KafkaProtocol
import Logging
import XCTest

/// The group coordinator as wired into the broker: requests through `Broker.handle`, state kept
/// in the internal groups topic across a restart.
final class GroupTranscriptTests: XCTestCase {
    private func joinAndSync(_ client: BrokerHarness, group: String) async throws -> (
        memberId: String, generation: Int32
    ) {
        let protocols = [JoinGroupRequest.JoinGroupRequestProtocol(name: "range", metadata: [0, 1])]
        // v4+: the first join is answered with MEMBER_ID_REQUIRED and the id to use.
        let first = try await client.send(
            JoinGroupRequest(
                groupId: group, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: "",
                protocolType: "consumer", protocols: protocols), version: 7)
        XCTAssertEqual(first.errorCode, 79, "MEMBER_ID_REQUIRED")
        let joined = try await client.send(
            JoinGroupRequest(
                groupId: group, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: first.memberId,
                protocolType: "consumer", protocols: protocols), version: 7)
        XCTAssertEqual(joined.errorCode, 0)
        XCTAssertEqual(joined.leader, first.memberId, "the only member leads")
        let synced = try await client.send(
            SyncGroupRequest(
                groupId: group, generationId: joined.generationId, memberId: joined.memberId,
                protocolType: "consumer", protocolName: "range",
                assignments: [.init(memberId: joined.memberId, assignment: [9, 9])]), version: 5)
        XCTAssertEqual(synced.errorCode, 0)
        XCTAssertEqual(synced.assignment, [9, 9])
        return (joined.memberId, joined.generationId)
    }

    func testCommittedOffsetsAndTheGroupSurviveARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "strait-groups-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var config = BrokerConfig()
        config.groupCoordinator.initialRebalanceDelayMs = 0
        let first = try BrokerHarness(
            config: config, storage: try FileBrokerStorage(directory: directory, logger: logger))
        _ = try await first.createTopic("orders", partitions: 2)
        let (member, generation) = try await joinAndSync(first, group: "billing")

        let commit = try await first.send(
            OffsetCommitRequest(
                groupId: "billing", generationIdOrMemberEpoch: generation, memberId: member,
                topics: [
                    .init(
                        name: "orders",
                        partitions: [
                            .init(
                                partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: 0, committedMetadata: "m0"
                            ),
                            .init(
                                partitionIndex: 1, committedOffset: 7, committedLeaderEpoch: 0, committedMetadata: nil)
                        ])
                ]), version: 8)
        XCTAssertEqual(commit.topics[0].partitions.map(\.errorCode), [0, 0])
        let unknown = try await first.send(
            OffsetCommitRequest(
                groupId: "billing", generationIdOrMemberEpoch: generation, memberId: member,
                topics: [
                    .init(
                        name: "nope",
                        partitions: [.init(partitionIndex: 0, committedOffset: 1, committedLeaderEpoch: -1)])
                ]),
            version: 8)
        XCTAssertEqual(unknown.topics[0].partitions[0].errorCode, 3, "UNKNOWN_TOPIC_OR_PARTITION")
        let stale = try await first.send(
            HeartbeatRequest(groupId: "billing", generationId: generation - 1, memberId: member), version: 4)
        XCTAssertEqual(stale.errorCode, 22, "ILLEGAL_GENERATION")
        first.broker.shutdown()

        let second = try BrokerHarness(
            config: config, storage: try FileBrokerStorage(directory: directory, logger: logger))
        let fetched = try await second.send(
            OffsetFetchRequest(groupId: "billing", topics: [.init(name: "orders", partitionIndexes: [0, 1])]),
            version: 7)
        let partitions = fetched.topics[0].partitions
        XCTAssertEqual(partitions.map(\.committedOffset), [42, 7])
        XCTAssertEqual(partitions.map(\.metadata), ["m0", ""])
        XCTAssertEqual(partitions.map(\.committedLeaderEpoch), [0, 0])

        let described = try await second.send(DescribeGroupsRequest(groups: ["billing"]), version: 5)
        XCTAssertEqual(described.groups[0].protocolData, "range", "the group's last generation is restored")
        XCTAssertEqual(described.groups[0].members.map(\.memberId), [member])
        let listed = try await second.send(ListGroupsRequest(), version: 4)
        XCTAssertEqual(listed.groups.map(\.groupId), ["billing"])
    }

    func testOffsetsSurviveCompactionOfTheGroupsTopicAndARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "strait-groups-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let first = try BrokerHarness(storage: try FileBrokerStorage(directory: directory, logger: logger))
        _ = try await first.createTopic("orders")
        // Small segments, so the groups topic has closed segments for the cleaner.
        let altered = try await first.send(
            IncrementalAlterConfigsRequest(
                resources: [
                    .init(
                        resourceType: 2, resourceName: "__strait_groups",
                        configs: [.init(name: "segment.bytes", configOperation: 0, value: "1024")])
                ], validateOnly: false), version: 1)
        XCTAssertEqual(altered.responses[0].errorCode, 0)
        func commit(_ group: String, _ offset: Int64) async throws {
            let response = try await first.send(
                OffsetCommitRequest(
                    groupId: group,
                    topics: [
                        .init(
                            name: "orders",
                            partitions: [
                                .init(
                                    partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1,
                                    committedMetadata: "at \(offset)")
                            ])
                    ]),
                version: 8)
            XCTAssertEqual(response.topics[0].partitions[0].errorCode, 0)
        }
        for offset in 1...200 { try await commit("billing", Int64(offset)) }
        try await commit("gone", 5)
        let deleted = try await first.send(DeleteGroupsRequest(groupsNames: ["gone"]), version: 2)
        XCTAssertEqual(deleted.results[0].errorCode, 0)
        for offset in 201...300 { try await commit("billing", Int64(offset)) }

        XCTAssertGreaterThan(first.broker.compactLogs(), 0, "the groups topic was cleaned")
        first.broker.shutdown()

        let second = try BrokerHarness(storage: try FileBrokerStorage(directory: directory, logger: logger))
        let fetched = try await second.send(
            OffsetFetchRequest(groupId: "billing", topics: [.init(name: "orders", partitionIndexes: [0])]), version: 7)
        XCTAssertEqual(fetched.topics[0].partitions[0].committedOffset, 300)
        XCTAssertEqual(fetched.topics[0].partitions[0].metadata, "at 300")
        let listed = try await second.send(ListGroupsRequest(), version: 4)
        XCTAssertEqual(listed.groups.map(\.groupId), ["billing"], "the deleted group stays deleted")
    }

    func testTheInternalTopicRefusesProduceDeletionAndGrowth() async throws {
        let client = try BrokerHarness()
        let produced = try await client.produce("__strait_groups", batch: try batch(["forged"]))
        XCTAssertEqual(produced.errorCode, 17, "INVALID_TOPIC_EXCEPTION")
        let deleted = try await client.send(
            DeleteTopicsRequest(topicNames: ["__strait_groups"], timeoutMs: 1000), version: 5)
        XCTAssertEqual(deleted.responses[0].errorCode, 17)
        let grown = try await client.send(
            CreatePartitionsRequest(
                topics: [.init(name: "__strait_groups", count: 3, assignments: nil)], timeoutMs: 1000,
                validateOnly: false), version: 3)
        XCTAssertEqual(grown.results[0].errorCode, 17)
        let metadata = try await client.send(MetadataRequest(topics: [.init(name: "__strait_groups")]), version: 12)
        XCTAssertEqual(metadata.topics[0].isInternal, true)
    }

    func testOffsetRetentionSettings() {
        var config = BrokerConfig()
        XCTAssertEqual(
            config.groupCoordinator.offsetsRetentionMs, 10_080 * 60_000, "Kafka's offsets.retention.minutes default")
        XCTAssertEqual(config.groupCoordinator.offsetsRetentionCheckIntervalMs, 600_000)
        XCTAssertNil(config.apply(setting: "offsets-retention-minutes", value: "1440"))
        XCTAssertEqual(config.groupCoordinator.offsetsRetentionMs, 86_400_000)
        XCTAssertEqual(
            config.apply(setting: "offsets-retention-minutes", value: "0.5"),
            "offsets-retention-minutes must be an integer from 1 to 2147483647, got '0.5'")
        XCTAssertNil(config.apply(setting: "offsets-retention-ms", value: "2000"))
        XCTAssertNil(config.apply(setting: "offsets-retention-minutes", value: "5"))
        XCTAssertEqual(config.groupCoordinator.offsetsRetentionMs, 2_000, "the ms form wins whatever the order")
        XCTAssertNil(config.apply(setting: "offsets-retention-check-interval-ms", value: "200"))
        XCTAssertEqual(config.groupCoordinator.offsetsRetentionCheckIntervalMs, 200)
        XCTAssertNotNil(config.apply(setting: "offsets-retention-check-interval-ms", value: "0"))
        for name in ["offsets-retention-minutes", "offsets-retention-ms", "offsets-retention-check-interval-ms"] {
            XCTAssertTrue(BrokerConfig.settingNames.contains(name))
        }
    }
}
