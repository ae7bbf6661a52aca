import KafkaProtocol
import KafkaRecords
import NIOConcurrencyHelpers
import NIOCore
import XCTest
@testable import KafkaClient

/// The metadata cache against a fake broker whose topics can grow: which Metadata requests a
/// client sends (the transcript), and what lookups of partitions the cache lacks answer.
final class MetadataCacheTests: XCTestCase {
    /// A one-broker cluster: `partitions` says how many partitions each topic has now (a topic
    /// not in it does not exist); every request is written to the transcript.
    private final class Broker: @unchecked Sendable {
        let partitions: NIOLockedValueBox<[String: Int32]>
        /// "Metadata [a, b]", "Produce [t-1]", "ListOffsets [t-0]", in the order they arrived.
        let transcript = NIOLockedValueBox<[String]>([])
        /// Produce answers this code for every partition (NONE: offset 0).
        let produceError = NIOLockedValueBox(KafkaErrorCode.none)
        /// How long the broker takes to answer Metadata.
        let metadataDelay: TimeAmount
        private let port = NIOLockedValueBox(0)
        private(set) var server: FakeKafkaServer!

        init(partitions: [String: Int32], metadataDelay: TimeAmount = .zero) async throws {
            self.partitions = NIOLockedValueBox(partitions)
            self.metadataDelay = metadataDelay
            let advertised = FakeKafkaServer.defaultAdvertised.merging([.produce: 3...11]) { $1 }
            server = FakeKafkaServer(advertised: advertised) { [unowned self] header, body in
                self.answer(header, body)
            }
            _ = try await server.start()
            port.withLockedValue { $0 = server.port }
        }

        var metadataRequests: [String] { transcript.withLockedValue { $0 }.filter { $0.hasPrefix("Metadata") } }

        private func record(_ line: String) { transcript.withLockedValue { $0.append(line) } }

        private func answer(_ header: RequestHeader, _ body: ByteBuffer) -> FakeKafkaServer.Reply? {
            switch APIKey(rawValue: header.apiKey)! {
            case .metadata:
                let request = decodeRequest(MetadataRequest.self, header, body)
                let asked = request.topics.map { $0.compactMap(\.name) }
                record("Metadata \(asked.map { "\($0)" } ?? "all")")
                let counts = partitions.withLockedValue { $0 }
                let names = asked ?? counts.keys.sorted()
                let response = MetadataResponse(
                    brokers: [.init(nodeId: 0, host: "127.0.0.1", port: Int32(port.withLockedValue { $0 }))],
                    clusterId: "c", controllerId: 0,
                    topics: names.map { name -> MetadataResponse.MetadataResponseTopic in
                        guard let count = counts[name] else {
                            return .init(errorCode: .unknownTopicOrPartition, name: name)
                        }
                        return .init(name: name, partitions: (0..<count).map { .init(partitionIndex: $0, leaderId: 0) })
                    })
                return metadataDelay == .zero ? .respond(response) : .delayed(response, metadataDelay)
            case .produce:
                let request = decodeRequest(ProduceRequest.self, header, body)
                let tps = request.topicData.flatMap { topic in
                    topic.partitionData.map { TopicPartition(topic.name, $0.index) }
                }
                record("Produce \(tps)")
                let code = produceError.withLockedValue { $0 }
                return .respond(
                    ProduceResponse(
                        responses: request.topicData.map { topic in
                            .init(
                                name: topic.name,
                                partitionResponses: topic.partitionData.map {
                                    .init(index: $0.index, errorCode: code, baseOffset: code.isError ? -1 : 0)
                                })
                        }))
            case .listOffsets:
                let request = decodeRequest(ListOffsetsRequest.self, header, body)
                record(
                    "ListOffsets \(request.topics.flatMap { t in t.partitions.map { TopicPartition(t.name, $0.partitionIndex) } })"
                )
                return .respond(
                    ListOffsetsResponse(
                        topics: request.topics.map { topic in
                            .init(
                                name: topic.name,
                                partitions: topic.partitions.map { .init(partitionIndex: $0.partitionIndex, offset: 7) }
                            )
                        }))
            default:
                return nil
            }
        }
    }

    private func cluster(_ broker: Broker, attempts: Int = 4) throws -> KafkaCluster {
        var configuration = KafkaClientConfiguration()
        configuration.retry = RetryPolicy(maxAttempts: attempts, initialBackoff: .zero, maxBackoff: .zero)
        return try KafkaCluster(
            bootstrapServers: [broker.server.address], configuration: configuration, sleep: { _ in })
    }

    private func batch() throws -> StoredBatch {
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: Array("x".utf8), timestamp: 1_700_000_000_000)
        return try builder.build()
    }

    func testARefreshOfSomeTopicsLeavesTheOtherStaleTopicsStale() async throws {
        let broker = try await Broker(partitions: ["a": 1, "b": 1])
        defer { Task { await broker.server.stop() } }
        let cluster = try cluster(broker)

        _ = try await cluster.metadata(topics: ["a", "b"])
        _ = try await cluster.metadata(topics: ["a", "b"])  // fresh: from the cache
        await cluster.invalidateMetadata()  // e.g. after CreatePartitions
        _ = try await cluster.metadata(topics: ["b"])  // refreshes b, and only b
        _ = try await cluster.refreshMetadata(topics: [])  // brokers only (a connection to an unknown broker)
        _ = try await cluster.metadata(topics: ["a"])  // a is still stale
        _ = try await cluster.metadata(topics: ["a", "b"])  // both fresh now
        await cluster.invalidateMetadata(topics: ["b"])
        _ = try await cluster.metadata(topics: ["a", "b"])  // only b is stale

        XCTAssertEqual(
            broker.metadataRequests,
            [
                "Metadata [\"a\", \"b\"]", "Metadata [\"b\"]", "Metadata []", "Metadata [\"a\"]", "Metadata [\"b\"]"
            ])
        await cluster.close()
    }

    func testAGrownTopicsNewPartitionIsFoundAfterOneRefresh() async throws {
        let broker = try await Broker(partitions: ["t": 1])
        defer { Task { await broker.server.stop() } }
        let cluster = try cluster(broker)
        let first = TopicPartition("t", 0), added = TopicPartition("t", 1)

        let before = try await cluster.produce([first: try batch()])
        XCTAssertEqual(before[first]?.isSuccess, true)
        // Another client adds a partition; this client's cache, still fresh, lists one.
        broker.partitions.withLockedValue { $0["t"] = 2 }
        let produced = try await cluster.produce([added: try batch()])
        XCTAssertEqual(produced[added]?.isSuccess, true)
        let listed = try await cluster.listOffsets([added])  // the cache knows it now
        XCTAssertEqual(try listed[added]?.get().offset, 7)

        XCTAssertEqual(
            broker.transcript.withLockedValue { $0 },
            [
                "Metadata [\"t\"]", "Produce [t-0]",
                "Metadata [\"t\"]", "Produce [t-1]",
                "ListOffsets [t-1]"
            ])
        await cluster.close()
    }

    func testAPartitionStillUnknownAfterTheRefreshFailsWithUnknownTopicOrPartition() async throws {
        let broker = try await Broker(partitions: ["t": 2])
        defer { Task { await broker.server.stop() } }
        let cluster = try cluster(broker)
        let missing = TopicPartition("t", 5)

        let produced = try await cluster.produce([missing: try batch()])[missing]
        XCTAssertEqual(produced?.errorCode, .unknownTopicOrPartition)
        XCTAssertEqual(
            produced?.clientError?.description,
            "Metadata for t-5 (topic 't' has 2 partitions): UNKNOWN_TOPIC_OR_PARTITION")
        let listed = try await cluster.listOffsets([missing])[missing]
        XCTAssertEqual(listed, .failure(.unknownTopicOrPartition("Metadata for t-5 (topic 't' has 2 partitions)")))

        // One refresh per lookup, nothing sent to the broker for the partition, no retries.
        XCTAssertEqual(broker.transcript.withLockedValue { $0 }, ["Metadata [\"t\"]", "Metadata [\"t\"]"])
        await cluster.close()
    }

    func testUnknownTopicOrPartitionFromTheLeaderMarksOnlyItsTopicStale() async throws {
        let broker = try await Broker(partitions: ["t": 1, "u": 1])
        defer { Task { await broker.server.stop() } }
        let cluster = try cluster(broker, attempts: 1)
        let tp = TopicPartition("t", 0)
        _ = try await cluster.metadata(topics: ["t", "u"])

        // The leader has not heard of the partition yet (a topic just created elsewhere).
        broker.produceError.withLockedValue { $0 = .unknownTopicOrPartition }
        let refused = try await cluster.produce([tp: try batch()])
        XCTAssertEqual(refused[tp]?.errorCode, .unknownTopicOrPartition)
        broker.produceError.withLockedValue { $0 = .none }
        _ = try await cluster.metadata(topics: ["u"])  // u stays fresh
        let produced = try await cluster.produce([tp: try batch()])  // t is refreshed first
        XCTAssertEqual(produced[tp]?.isSuccess, true)

        XCTAssertEqual(
            broker.transcript.withLockedValue { $0 },
            ["Metadata [\"t\", \"u\"]", "Produce [t-0]", "Metadata [\"t\"]", "Produce [t-0]"])
        await cluster.close()
    }

    func testConcurrentLookupsOfAStaleTopicShareOneRefresh() async throws {
        let broker = try await Broker(partitions: ["t": 1], metadataDelay: .milliseconds(200))
        defer { Task { await broker.server.stop() } }
        let cluster = try cluster(broker)

        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<5 {
                group.addTask { _ = try await cluster.metadata(topics: ["t"]) }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(broker.metadataRequests, ["Metadata [\"t\"]"])
        await cluster.close()
    }
}
