import BrokerCore
import BrokerServer
import KafkaProtocol
import KafkaRecords
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import XCTest
@testable import KafkaClient

/// The client against a real `BrokerService` (in-memory logs) on a loopback port.
final class InProcessBrokerTests: XCTestCase {
    private var running: InProcessBroker?

    private func startBroker() async throws -> BrokerAddress {
        let started = try await InProcessBroker.start()
        running = started
        return started.address
    }

    override func tearDown() async throws {
        await running?.stop()
    }

    private func produce(_ connection: KafkaConnection, _ topic: String, _ partition: Int32, count: Int) async throws {
        var builder = RecordBatchBuilder()
        for i in 0..<count {
            builder.append(key: nil, value: Array("v\(i)".utf8), timestamp: 1_700_000_000_000 + Int64(i))
        }
        let response = try await connection.send(
            ProduceRequest(
                transactionalId: nil, acks: -1, timeoutMs: 1000,
                topicData: [
                    .init(name: topic, partitionData: [.init(index: partition, records: try builder.build().bytes)])
                ]), version: 9)
        XCTAssertEqual(response.responses.first?.partitionResponses.first?.errorCode, 0)
    }

    func testMetadataOffsetsAndGroupReportAgainstTheBroker() async throws {
        let address = try await startBroker()
        let cluster = try KafkaCluster(bootstrapServers: [address])
        let connection = try await cluster.anyConnection()
        XCTAssertEqual(try connection.version(for: .metadata), 12)
        XCTAssertEqual(try connection.version(for: .apiVersions), 4)

        let created = try await connection.send(
            CreateTopicsRequest(
                topics: [.init(name: "orders", numPartitions: 2, replicationFactor: 1)], timeoutMs: 1000), version: 7)
        XCTAssertEqual(created.topics.first?.errorCode, 0)
        let metadata = try await cluster.refreshMetadata(topics: ["orders"])
        XCTAssertEqual(metadata.topics["orders"]?.partitions.map(\.leader), [0, 0])
        XCTAssertEqual(metadata.brokers[0]?.address, address)
        XCTAssertNotNil(metadata.clusterId)

        let leader = try await cluster.connection(to: 0)
        try await produce(leader, "orders", 0, count: 3)
        try await produce(leader, "orders", 1, count: 5)
        let partitions: Set = [TopicPartition("orders", 0), TopicPartition("orders", 1)]
        let latest = try await cluster.listOffsets(partitions, spec: .latest)
        XCTAssertEqual(try latest[TopicPartition("orders", 0)]?.get().offset, 3)
        XCTAssertEqual(try latest[TopicPartition("orders", 1)]?.get().offset, 5)
        let earliest = try await cluster.listOffsets(partitions, spec: .earliest)
        XCTAssertEqual(try earliest.values.map { try $0.get().offset }, [0, 0])
        // An unknown partition is reported per partition, not thrown.
        let missing = try await cluster.listOffsets([TopicPartition("orders", 7)])
        guard case .failure? = missing[TopicPartition("orders", 7)] else { return XCTFail("\(missing)") }

        // A standalone (no members) commit, as an admin tool or MM2's checkpoint sync does.
        let coordinator = try await cluster.coordinatorConnection(for: "g")
        let commit = try await coordinator.send(
            OffsetCommitRequest(
                groupId: "g", generationIdOrMemberEpoch: -1, memberId: "",
                topics: [
                    .init(
                        name: "orders",
                        partitions: [
                            .init(partitionIndex: 0, committedOffset: 1), .init(partitionIndex: 1, committedOffset: 5)
                        ])
                ]),
            version: 8)
        XCTAssertEqual(commit.topics.flatMap(\.partitions).map(\.errorCode), [0, 0])

        let committed = try await cluster.fetchCommittedOffsets(group: "g")
        XCTAssertEqual(committed.mapValues(\.offset), [TopicPartition("orders", 0): 1, TopicPartition("orders", 1): 5])
        let (description, report) = try await cluster.groupOffsetsReport("g")
        XCTAssertEqual(description.state, "Empty")
        XCTAssertEqual(description.members, [])
        XCTAssertEqual(report.rows.map(\.lag), [2, 0])
        XCTAssertEqual(report.rows.map(\.logEndOffset), [3, 5])
        let groups = try await cluster.listGroups()
        XCTAssertTrue(groups.contains { $0.groupId == "g" }, "\(groups)")
        let unknown = try await cluster.describeGroup("no-such-group")
        XCTAssertTrue(unknown.isDead, unknown.state)
        await cluster.close()
    }

    func testBrokerRestartIsSurvivedByReconnecting() async throws {
        let address = try await startBroker()
        var configuration = KafkaClientConfiguration()
        configuration.retry = RetryPolicy(maxAttempts: 3, initialBackoff: .zero)
        let cluster = try KafkaCluster(bootstrapServers: [address], configuration: configuration, sleep: { _ in })
        _ = try await cluster.refreshMetadata(topics: nil)
        let first = try await cluster.connection(to: 0)
        await first.close()  // as if the broker dropped it
        let second = try await cluster.connection(to: 0)
        XCTAssertFalse(first === second)
        XCTAssertTrue(second.isActive)
        await cluster.close()
        XCTAssertFalse(second.isActive)
        do {
            _ = try await cluster.refreshMetadata(topics: nil)
            XCTFail("used after close")
        } catch let error as KafkaClientError {
            XCTAssertEqual(error, .clientClosed)
        }
    }
}
