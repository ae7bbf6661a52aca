import BrokerCore
import BrokerServer
import KafkaProtocol
import KafkaRecords
import Logging
import NIOCore
import ServiceLifecycle
import XCTest
@testable import KafkaClient

/// Produce, fetch, admin and offset commits (what the replicator uses) against a real
/// `BrokerService` (in-memory logs) on a loopback port.
final class ReplicatorOperationsTests: XCTestCase {
    private var running: InProcessBroker?
    private var cluster: KafkaCluster!

    override func setUp() async throws {
        let started = try await InProcessBroker.start()
        running = started
        var configuration = KafkaClientConfiguration()
        configuration.socketSendBufferBytes = 1 << 20
        configuration.socketReceiveBufferBytes = 1 << 20
        cluster = try KafkaCluster(bootstrapServers: [started.address], configuration: configuration)
    }

    override func tearDown() async throws {
        await cluster?.close()
        await running?.stop()
    }

    private func batch(_ values: [String], codec: CompressionCodec = .none) throws -> StoredBatch {
        var builder = RecordBatchBuilder()
        builder.codec = codec
        for (i, value) in values.enumerated() {
            builder.append(key: Array("k\(i)".utf8), value: Array(value.utf8), timestamp: 1_700_000_000_000 + Int64(i))
        }
        return try builder.build()
    }

    private func createTopic(_ name: String, partitions: Int32 = 1) async throws {
        let result = try await cluster.createTopics([NewTopic(name: name, partitions: partitions, replicationFactor: 1)]
        )
        XCTAssertEqual(result[name]?.errorCode, KafkaErrorCode.none, "\(result)")
    }

    /// The bytes the CRC covers (attributes to the end): identical after a round trip.
    private func crcCovered(_ batch: StoredBatch) -> [UInt8] {
        Array(batch.bytes.readableBytesView.dropFirst(RecordBatchHeader.attributesOffset))
    }

    func testProduceThenFetchReturnsTheSameBatchesAtTheirOffsets() async throws {
        try await createTopic("t", partitions: 2)
        let a = try batch(["a0", "a1", "a2"]), b = try batch(["b0", "b1"], codec: .lz4), c = try batch(["c0"])
        let tp0 = TopicPartition("t", 0), tp1 = TopicPartition("t", 1)

        let first = try await cluster.produce([tp0: a, tp1: c], acks: -1)
        XCTAssertEqual(first[tp0], ProduceResult(errorCode: .none, baseOffset: 0, logAppendTime: -1, logStartOffset: 0))
        XCTAssertEqual(first[tp1]?.baseOffset, 0)
        let second = try await cluster.produce([tp0: b], acks: 1)
        XCTAssertEqual(second[tp0]?.baseOffset, 3)

        let fetched = try await cluster.fetch(
            [tp0: FetchPosition(offset: 0), tp1: FetchPosition(offset: 0)], maxWaitMs: 0)
        let p0 = try XCTUnwrap(fetched[tp0])
        XCTAssertEqual(p0.errorCode, .none)
        XCTAssertNil(p0.clientError)
        XCTAssertEqual(p0.highWatermark, 5)
        XCTAssertEqual(p0.logStartOffset, 0)
        XCTAssertEqual(p0.batches.map(\.header.baseOffset), [0, 3])
        XCTAssertEqual(p0.batches.map(crcCovered), [crcCovered(a), crcCovered(b)])
        XCTAssertEqual(p0.nextOffset, 5)
        XCTAssertEqual(fetched[tp1]?.batches.map(crcCovered), [crcCovered(c)])

        // From the middle: the batch holding offset 3 only.
        let later = try await cluster.fetch([tp0: FetchPosition(offset: 3)], maxWaitMs: 0)
        XCTAssertEqual(later[tp0]?.batches.map(\.header.baseOffset), [3])
        // At the end: nothing, no error.
        let end = try await cluster.fetch([tp0: FetchPosition(offset: 5)], maxWaitMs: 0)
        XCTAssertEqual(end[tp0]?.errorCode, KafkaErrorCode.none)
        XCTAssertEqual(end[tp0]?.batches.count, 0)
        // Past the end: the broker's error, per partition.
        let past = try await cluster.fetch([tp0: FetchPosition(offset: 99)], maxWaitMs: 0)
        XCTAssertEqual(past[tp0]?.errorCode, .offsetOutOfRange)
        // An unknown topic: reported (after retries), not thrown.
        var configuration = cluster.configuration
        configuration.retry = RetryPolicy(maxAttempts: 2, initialBackoff: .zero)
        let quick = try KafkaCluster(bootstrapServers: cluster.bootstrapServers, configuration: configuration)
        let unknown = try await quick.fetch([TopicPartition("nope", 0): FetchPosition(offset: 0)], maxWaitMs: 0)
        XCTAssertEqual(unknown[TopicPartition("nope", 0)]?.errorCode, .unknownTopicOrPartition)
        await quick.close()
    }

    func testFetchLongPollWakesUpOnProduce() async throws {
        try await createTopic("poll", partitions: 2)
        let tp0 = TopicPartition("poll", 0), tp1 = TopicPartition("poll", 1)
        let cluster = self.cluster!
        // Long polls far longer than the test: they can only end early by being woken. They run
        // on fetch lanes (their own connections), so the produces on lane 0 are not held back,
        // and on two lanes they wait side by side.
        let first = Task {
            try await cluster.fetch([tp0: FetchPosition(offset: 0)], options: FetchOptions(maxWaitMs: 120_000))
        }
        let second = Task {
            try await cluster.fetch([tp1: FetchPosition(offset: 0)], options: FetchOptions(maxWaitMs: 120_000, lane: 2))
        }
        try await Task.sleep(for: .milliseconds(100))
        let produced = try await cluster.produce([tp0: try batch(["x"])])
        XCTAssertEqual(produced[tp0]?.baseOffset, 0)
        let fetched = try await first.value
        XCTAssertEqual(fetched[tp0]?.batches.map(\.header.baseOffset), [0])
        XCTAssertEqual(fetched[tp0]?.highWatermark, 1)
        _ = try await cluster.produce([tp1: try batch(["y", "z"])])
        let fetched1 = try await second.value
        XCTAssertEqual(fetched1[tp1]?.highWatermark, 2)
        XCTAssertEqual(fetched1[tp1]?.batches.first?.header.recordsCount, 2)
    }

    func testSeveralRequestsInFlightOnOneConnection() async throws {
        try await createTopic("pipe", partitions: 2)
        let tp0 = TopicPartition("pipe", 0), tp1 = TopicPartition("pipe", 1)
        let connection = try await cluster.connection(to: 0)

        // Five produces to one partition, all written before any answer is awaited: appended in order.
        let batches = try (0..<5).map { try batch(["p\($0)a", "p\($0)b"]) }
        let pending = try batches.map { try connection.enqueueProduce([tp0: $0], acks: -1, timeoutMs: 5000) }
        var offsets: [Int64] = []
        for produce in pending.reversed() { offsets.insert(try await produce.results()[tp0]!.baseOffset, at: 0) }
        XCTAssertEqual(offsets, [0, 2, 4, 6, 8])
        _ = try await cluster.produce([tp1: try batch(["q"])])

        // Three fetches in flight at once, awaited out of order.
        let fetches = try [
            connection.enqueueFetch([tp0: FetchPosition(offset: 0)], options: FetchOptions(maxWaitMs: 0)),
            connection.enqueueFetch([tp0: FetchPosition(offset: 6)], options: FetchOptions(maxWaitMs: 0)),
            connection.enqueueFetch([tp1: FetchPosition(offset: 0)], options: FetchOptions(maxWaitMs: 0))
        ]
        let third = try await fetches[2].results()
        let second = try await fetches[1].results()
        let first = try await fetches[0].results()
        XCTAssertEqual(first[tp0]?.batches.map(\.header.baseOffset), [0, 2, 4, 6, 8])
        XCTAssertEqual(first[tp0]?.batches.map(crcCovered), batches.map(crcCovered))
        XCTAssertEqual(second[tp0]?.batches.map(\.header.baseOffset), [6, 8])
        XCTAssertEqual(third[tp1]?.batches.map(\.header.baseOffset), [0])
        XCTAssertEqual(fetches.map(\.version), [12, 12, 12], "the broker's highest Fetch version (no topic ids needed)")
    }

    func testAcksZeroDoesNotWaitForAResponse() async throws {
        try await createTopic("fire")
        let tp = TopicPartition("fire", 0)
        let results = try await cluster.produce([tp: try batch(["a", "b"])], acks: 0)
        XCTAssertEqual(results[tp], ProduceResult(errorCode: .none))
        // The connection stays in step: an acknowledged produce behind it lands after it.
        let acknowledged = try await cluster.produce([tp: try batch(["c"])], acks: -1)
        XCTAssertEqual(acknowledged[tp]?.baseOffset, 2)
        let connection = try await cluster.connection(to: 0)
        try await connection.sendWithoutResponse(
            ProduceRequest(
                acks: 0, timeoutMs: 1000,
                topicData: [
                    .init(name: "fire", partitionData: [.init(index: 0, records: try batch(["d"]).bytes)])
                ]), version: 9)
        let fetched = try await cluster.fetch([tp: FetchPosition(offset: 0)], maxWaitMs: 0)
        XCTAssertEqual(fetched[tp]?.batches.map(\.header.baseOffset), [0, 2, 3])
    }

    func testCreateDescribeAlterAndDeleteTopics() async throws {
        let created = try await cluster.createTopics([
            NewTopic(name: "a", partitions: 3, replicationFactor: 1, configs: ["retention.ms": "60000"]),
            NewTopic(name: "b")
        ])
        XCTAssertEqual(created["a"]?.isSuccess, true, "\(created)")
        XCTAssertEqual(created["a"]?.partitions, 3)
        XCTAssertEqual(created["b"]?.isSuccess, true, "\(created)")
        let again = try await cluster.createTopics([NewTopic(name: "a", partitions: 3, replicationFactor: 1)])
        XCTAssertEqual(again["a"]?.alreadyExists, true, "\(again)")
        let dryRun = try await cluster.createTopics(
            [NewTopic(name: "c", partitions: 1, replicationFactor: 1)], validateOnly: true)
        XCTAssertEqual(dryRun["c"]?.isSuccess, true)
        let afterDryRun = try await cluster.refreshMetadata(topics: nil)
        XCTAssertNil(afterDryRun.topics["c"])
        XCTAssertEqual(afterDryRun.topics["a"]?.partitions.count, 3)

        var configs = try await cluster.describeTopicConfigs(["a", "missing"])
        let a = try XCTUnwrap(configs["a"]).get()
        XCTAssertEqual(a["retention.ms"]?.value, "60000")
        XCTAssertEqual(a["retention.ms"]?.source, .dynamicTopic)
        XCTAssertEqual(a["retention.ms"]?.isDefault, false)
        XCTAssertEqual(a["cleanup.policy"]?.isDefault, true)
        guard case let .failure(error)? = configs["missing"] else { return XCTFail("\(configs)") }
        XCTAssertEqual(error.errorCode, .unknownTopicOrPartition)

        try await cluster.incrementalAlterTopicConfigs(
            "a", set: ["cleanup.policy": "compact"], delete: ["retention.ms"])
        configs = try await cluster.describeTopicConfigs(["a"])
        let altered = try XCTUnwrap(configs["a"]).get()
        XCTAssertEqual(altered["cleanup.policy"]?.value, "compact")
        XCTAssertEqual(altered["cleanup.policy"]?.source, .dynamicTopic)
        XCTAssertEqual(altered["retention.ms"]?.isDefault, true)
        do {
            try await cluster.incrementalAlterTopicConfigs("a", set: ["no.such.config": "1"])
            XCTFail("unknown config accepted")
        } catch let error as KafkaClientError {
            XCTAssertEqual(error.errorCode, .invalidConfig, "\(error)")
        }

        try await cluster.createPartitions("a", totalCount: 5)
        let grown = try await cluster.refreshMetadata(topics: ["a"])
        XCTAssertEqual(grown.topics["a"]?.partitions.count, 5)
        do {
            try await cluster.createPartitions("a", totalCount: 5)
            XCTFail("no new partition, no error")
        } catch let error as KafkaClientError {
            XCTAssertEqual(error.errorCode, .invalidPartitions, "\(error)")
        }

        let deleted = try await cluster.deleteTopics(["a", "nope"])
        XCTAssertEqual(deleted["a"]?.isSuccess, true, "\(deleted)")
        XCTAssertEqual(deleted["nope"]?.errorCode, .unknownTopicOrPartition)
        let remaining = try await cluster.refreshMetadata(topics: nil)
        XCTAssertNil(remaining.topics["a"])
        XCTAssertNotNil(remaining.topics["b"])
    }

    func testCommitThenFetchCommittedOffsets() async throws {
        try await createTopic("orders", partitions: 2)
        let tp0 = TopicPartition("orders", 0), tp1 = TopicPartition("orders", 1)
        let results = try await cluster.commitOffsets(
            group: "mirror",
            offsets: [
                tp0: CommittedOffset(offset: 7, leaderEpoch: 0, metadata: "from source"),
                tp1: CommittedOffset(offset: 0)
            ])
        XCTAssertEqual(results, [tp0: .none, tp1: .none])
        let committed = try await cluster.fetchCommittedOffsets(group: "mirror")
        XCTAssertEqual(committed[tp0], CommittedOffset(offset: 7, leaderEpoch: 0, metadata: "from source"))
        XCTAssertEqual(committed[tp1]?.offset, 0)
        // Moving it again (checkpoints only ever re-commit).
        _ = try await cluster.commitOffsets(group: "mirror", offsets: [tp0: CommittedOffset(offset: 9)])
        let moved = try await cluster.fetchCommittedOffsets(group: "mirror")
        XCTAssertEqual(moved[tp0]?.offset, 9)
    }
}
