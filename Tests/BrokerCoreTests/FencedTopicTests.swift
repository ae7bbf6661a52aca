import BrokerCore
import Foundation
import KafkaProtocol
import KafkaRecords
import Logging
import XCTest

/// `strait.fenced`: a planned failover stops the old primary's producers at the broker.
final class FencedTopicTests: XCTestCase {
    let reason = "failover orders-dr-20261202T101500Z to west"

    func testEveryPartitionRefusesProduceWhileFencedAndDeletingTheConfigUnfences() async throws {
        let client = try BrokerHarness()
        _ = try await client.createTopic("orders", partitions: 2)
        let before = try await client.produce("orders", partition: 1, batch: try batch(["a", "b"]))
        XCTAssertEqual(before.errorCode, 0, before.errorMessage ?? "")

        let fenced = try await client.setConfig("orders", "strait.fenced", reason)
        XCTAssertEqual(fenced.errorCode, 0, fenced.errorMessage ?? "")
        for partition: Int32 in [0, 1] {
            let refused = try await client.produce("orders", partition: partition, batch: try batch(["late"]))
            XCTAssertEqual(refused.errorCode, KafkaErrorCode.invalidTopicException)
            XCTAssertEqual(
                refused.errorMessage,
                "topic orders is fenced (strait.fenced: failover orders-dr-20261202T101500Z to west); producers must write to the new primary"
            )
            XCTAssertEqual(refused.baseOffset, -1)
        }
        let idempotent = try await client.produce(
            "orders", batch: try batch(["i"], producerId: 3, producerEpoch: 0, baseSequence: 0))
        XCTAssertEqual(idempotent.errorCode, KafkaErrorCode.invalidTopicException, "idempotent producers too")
        let acksOne = try await client.produce("orders", batch: try batch(["z"]), acks: 1)
        XCTAssertEqual(acksOne.errorCode, KafkaErrorCode.invalidTopicException)
        let end = try await client.listOffset("orders", partition: 1, timestamp: -1)
        XCTAssertEqual(end.offset, 2, "nothing was appended while fenced")

        let unfenced = try await client.setConfig("orders", "strait.fenced", nil)
        XCTAssertEqual(unfenced.errorCode, 0, unfenced.errorMessage ?? "")
        let after = try await client.produce("orders", partition: 1, batch: try batch(["c"]))
        XCTAssertEqual(after.errorCode, 0, after.errorMessage ?? "")
        XCTAssertEqual(after.baseOffset, 2)
        let resumed = try await client.produce(
            "orders", batch: try batch(["i"], producerId: 3, producerEpoch: 0, baseSequence: 0))
        XCTAssertEqual(resumed.errorCode, 0, "the refused idempotent batch left no producer state behind")
    }

    func testFetchListOffsetsAndOffsetCommitsAreUnaffected() async throws {
        let client = try BrokerHarness()
        _ = try await client.createTopic("orders")
        _ = try await client.produce("orders", batch: try batch(["a", "b", "c"]))
        _ = try await client.setConfig("orders", "strait.fenced", reason)

        let fetched = try await client.fetchAll("orders", from: 0)
        XCTAssertEqual(fetched.errorCode, 0)
        XCTAssertEqual(strings(try client.records(in: fetched.records)), ["a", "b", "c"])
        let latest = try await client.listOffset("orders", timestamp: -1)
        XCTAssertEqual(latest.errorCode, 0)
        XCTAssertEqual(latest.offset, 3)
        let committed = try await client.send(
            OffsetCommitRequest(
                groupId: "billing",
                topics: [
                    .init(
                        name: "orders",
                        partitions: [.init(partitionIndex: 0, committedOffset: 3, committedLeaderEpoch: -1)])
                ]), version: 8)
        XCTAssertEqual(committed.topics[0].partitions[0].errorCode, 0)
        let fetchedOffsets = try await client.send(
            OffsetFetchRequest(groupId: "billing", topics: [.init(name: "orders", partitionIndexes: [0])]),
            version: 7)
        XCTAssertEqual(fetchedOffsets.topics[0].partitions[0].committedOffset, 3)
    }

    func testAnEmptyFenceIsInvalidAndInternalTopicsCannotBeFenced() async throws {
        let client = try BrokerHarness()
        _ = try await client.createTopic("orders")
        let empty = try await client.setConfig("orders", "strait.fenced", "")
        XCTAssertEqual(empty.errorCode, KafkaErrorCode.invalidConfig)
        XCTAssertEqual(
            empty.errorMessage, "strait.fenced must say why the topic is fenced (delete the config to unfence it)")
        let stillOpen = try await client.produce("orders", batch: try batch(["a"]))
        XCTAssertEqual(stillOpen.errorCode, 0)

        let created = try await client.createTopic("blank", configs: ["strait.fenced": " "])
        XCTAssertEqual(created.errorCode, KafkaErrorCode.invalidConfig)

        let groups = try await client.setConfig("__strait_groups", "strait.fenced", reason)
        XCTAssertEqual(groups.errorCode, KafkaErrorCode.invalidConfig)
        XCTAssertEqual(groups.errorMessage, "__strait_groups is an internal topic; it cannot be fenced")
    }

    func testATopicCreatedFencedRefusesProduceAndDescribeConfigsShowsTheFence() async throws {
        let client = try BrokerHarness()
        let created = try await client.createTopic("orders", configs: ["strait.fenced": reason])
        XCTAssertEqual(created.errorCode, 0, created.errorMessage ?? "")
        let refused = try await client.produce("orders", batch: try batch(["a"]))
        XCTAssertEqual(refused.errorCode, KafkaErrorCode.invalidTopicException)

        _ = try await client.createTopic("plain")
        func describe(_ topic: String) async throws -> DescribeConfigsResponse.DescribeConfigsResourceResult? {
            let response = try await client.send(
                DescribeConfigsRequest(
                    resources: [.init(resourceType: 2, resourceName: topic, configurationKeys: ["strait.fenced"])],
                    includeDocumentation: true), version: 4)
            return response.results[0].configs.first
        }
        let fence = try await describe("orders")
        XCTAssertEqual(fence?.value, reason)
        XCTAssertEqual(fence?.configSource, 1)
        XCTAssertTrue(fence?.documentation?.contains("INVALID_TOPIC_EXCEPTION") == true)
        let plain = try await describe("plain")
        XCTAssertEqual(plain?.value, "")
        XCTAssertEqual(plain?.configSource, 5, "default: not fenced")
    }

    func testAlterConfigsWithoutTheKeyUnfences() async throws {
        let client = try BrokerHarness()
        _ = try await client.createTopic("orders", configs: ["strait.fenced": reason])
        let replaced = try await client.send(
            AlterConfigsRequest(
                resources: [
                    .init(resourceType: 2, resourceName: "orders", configs: [.init(name: "retention.ms", value: "-1")])
                ], validateOnly: false), version: 1)
        XCTAssertEqual(replaced.responses[0].errorCode, 0)
        let produced = try await client.produce("orders", batch: try batch(["x"]))
        XCTAssertEqual(produced.errorCode, 0, produced.errorMessage ?? "")

        let fencedAgain = try await client.send(
            AlterConfigsRequest(
                resources: [
                    .init(
                        resourceType: 2, resourceName: "orders", configs: [.init(name: "strait.fenced", value: "drill")]
                    )
                ], validateOnly: false), version: 1)
        XCTAssertEqual(fencedAgain.responses[0].errorCode, 0)
        let refused = try await client.produce("orders", batch: try batch(["y"]))
        XCTAssertEqual(refused.errorCode, KafkaErrorCode.invalidTopicException)
        XCTAssertTrue(refused.errorMessage?.contains("(strait.fenced: drill)") == true, refused.errorMessage ?? "")
    }

    func testValidateOnlyDoesNotFence() async throws {
        let client = try BrokerHarness()
        _ = try await client.createTopic("orders")
        let validated = try await client.send(
            IncrementalAlterConfigsRequest(
                resources: [
                    .init(
                        resourceType: 2, resourceName: "orders",
                        configs: [.init(name: "strait.fenced", configOperation: 0, value: reason)])
                ], validateOnly: true), version: 1)
        XCTAssertEqual(validated.responses[0].errorCode, 0)
        let produced = try await client.produce("orders", batch: try batch(["a"]))
        XCTAssertEqual(produced.errorCode, 0, produced.errorMessage ?? "")
    }

    func testAFencedMirrorTopicRefusesMirrorAppends() async throws {
        let client = try BrokerHarness()
        try await client.createMirror("orders", source: "east")
        _ = try await client.mirrorAppend("orders", [try sourceBatch(["a", "b"], at: 0)])
        _ = try await client.setConfig("orders", "strait.fenced", reason)
        let refused = try await client.mirrorAppend("orders", [try sourceBatch(["c"], at: 2)])
        XCTAssertEqual(refused.errorCode, KafkaErrorCode.invalidTopicException)
        XCTAssertEqual(
            refused.errorMessage,
            "topic orders is fenced (strait.fenced: failover orders-dr-20261202T101500Z to west); mirror appends are refused until the config is deleted"
        )
        XCTAssertEqual(refused.logEndOffset, 2)
        _ = try await client.setConfig("orders", "strait.fenced", nil)
        let accepted = try await client.mirrorAppend("orders", [try sourceBatch(["c"], at: 2)])
        XCTAssertEqual(accepted.errorCode, 0, accepted.errorMessage ?? "")
        XCTAssertEqual(accepted.logEndOffset, 3)
    }

    func testTheFenceSurvivesARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "strait-fence-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        func open() throws -> BrokerHarness {
            try BrokerHarness(storage: try FileBrokerStorage(directory: directory, logger: logger))
        }
        let first = try open()
        _ = try await first.createTopic("orders", partitions: 2)
        _ = try await first.setConfig("orders", "strait.fenced", reason)
        first.broker.shutdown()

        let second = try open()
        let refused = try await second.produce("orders", partition: 1, batch: try batch(["a"]))
        XCTAssertEqual(refused.errorCode, KafkaErrorCode.invalidTopicException, "still fenced after a restart")
        _ = try await second.setConfig("orders", "strait.fenced", nil)
        second.broker.shutdown()

        let third = try open()
        let accepted = try await third.produce("orders", partition: 1, batch: try batch(["a"]))
        XCTAssertEqual(accepted.errorCode, 0, accepted.errorMessage ?? "")
        third.broker.shutdown()
    }
}
