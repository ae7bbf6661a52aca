import BrokerCore
import Foundation
import KafkaProtocol
import KafkaRecords
import Logging
import LogStorage
import NIOCore
import XCTest

final class ApiVersionsTests: XCTestCase {
    func testAdvertisesTheImplementedApis() async throws {
        let client = try BrokerHarness()
        let response = try await client.send(
            ApiVersionsRequest(clientSoftwareName: "test", clientSoftwareVersion: "1"), version: 3)
        XCTAssertEqual(response.errorCode, 0)
        let ranges = Dictionary(
            uniqueKeysWithValues: response.apiKeys.map { ($0.apiKey, $0.minVersion...$0.maxVersion) })
        XCTAssertEqual(ranges[APIKey.produce.rawValue], 0...11)
        XCTAssertEqual(ranges[APIKey.fetch.rawValue], 4...12)
        XCTAssertEqual(ranges[APIKey.apiVersions.rawValue], 0...4)
        XCTAssertEqual(ranges[APIKey.joinGroup.rawValue], 0...9)
        XCTAssertEqual(ranges[APIKey.offsetCommit.rawValue]?.lowerBound, 0)
        XCTAssertNil(ranges[APIKey.endTxn.rawValue], "transactions are not implemented, so not advertised")
    }

    func testUnsupportedVersionGetsTheV0LayoutWithTheList() async throws {
        let client = try BrokerHarness()
        var frame = ByteBuffer()
        RequestHeader(apiKey: 18, apiVersion: 99, correlationId: 7, clientId: "future").encode(into: &frame)
        frame.writeBytes([0xDE, 0xAD])  // a body we must not try to parse
        guard
            case var .respond(response) = await client.broker.handle(
                frame: frame, connection: .init(id: 1, remoteAddress: "t"))
        else {
            return XCTFail("expected a response")
        }
        _ = response.readInteger(as: Int32.self)
        XCTAssertEqual(response.readInteger(as: Int32.self), 7, "correlation id, response header v0")
        let decoded = try ApiVersionsResponse(from: &response, version: 0)
        XCTAssertEqual(decoded.errorCode, 35)
        XCTAssertTrue(decoded.apiKeys.contains { $0.apiKey == 18 && $0.minVersion == 0 && $0.maxVersion == 4 })
        XCTAssertEqual(response.readableBytes, 0)
    }

    func testUnknownApiKeyClosesTheConnection() async throws {
        let client = try BrokerHarness()
        var frame = ByteBuffer()
        RequestHeader(apiKey: 9999, apiVersion: 0, correlationId: 1, clientId: nil).encode(into: &frame)
        guard
            case .closeConnection = await client.broker.handle(
                frame: frame, connection: .init(id: 1, remoteAddress: "t"))
        else {
            return XCTFail("expected the connection to be closed")
        }
    }

    func testTruncatedRequestClosesTheConnection() async throws {
        let client = try BrokerHarness()
        var frame = try client.frame(MetadataRequest(topics: [.init(name: "orders")]), version: 9, correlationId: 1)
        frame.moveWriterIndex(to: frame.writerIndex - 3)
        guard
            case .closeConnection = await client.broker.handle(
                frame: frame, connection: .init(id: 1, remoteAddress: "t"))
        else {
            return XCTFail("expected the connection to be closed")
        }
    }
}

final class ProduceFetchTests: XCTestCase {
    func testMetadataAutoCreatesATopicAndKeepsItsId() async throws {
        let client = try BrokerHarness()
        let first = try await client.send(
            MetadataRequest(topics: [.init(name: "orders")], allowAutoTopicCreation: true), version: 12)
        XCTAssertEqual(first.topics.first?.errorCode, 0)
        XCTAssertEqual(first.topics.first?.partitions.count, 1)
        XCTAssertNotEqual(first.topics.first?.topicId, KafkaUUID.zero)
        let again = try await client.send(MetadataRequest(topics: nil), version: 12)
        XCTAssertEqual(again.userTopics.map(\.name), ["orders"])
        XCTAssertEqual(
            again.topics.first { $0.isInternal }?.name, "__strait_groups", "internal topics are listed, flagged")
        XCTAssertEqual(again.userTopics.first?.topicId, first.topics.first?.topicId)
        XCTAssertEqual(again.brokers.first?.port, 9092)
    }

    func testProducedBatchesComeBackByteForByteAtAssignedOffsets() async throws {
        let client = try BrokerHarness()
        let first = try batch(["a", "b", "c"], codec: .lz4)
        let second = try batch(["d", "e"], codec: .gzip)
        let p1 = try await client.produce("orders", batch: first)
        let p2 = try await client.produce("orders", batch: second)
        XCTAssertEqual([p1.errorCode, p2.errorCode], [0, 0])
        XCTAssertEqual([p1.baseOffset, p2.baseOffset], [0, 3])

        let fetched = try await client.fetch("orders", offset: 0)
        XCTAssertEqual(fetched.errorCode, 0)
        XCTAssertEqual(fetched.highWatermark, 5)
        let batches = try RecordBatches.split(fetched.records!, verifyCRC: true)
        XCTAssertEqual(batches.count, 2)
        // Stored as produced: only the base offset differs.
        var expectedSecond = second
        expectedSecond.assignBaseOffset(3)
        XCTAssertEqual(batches[1].bytes, expectedSecond.bytes)
        XCTAssertEqual(batches[1].header.compression, .gzip)
        XCTAssertEqual(strings(try client.records(in: fetched.records)), ["a", "b", "c", "d", "e"])

        let fromMiddle = try await client.fetch("orders", offset: 4)
        XCTAssertEqual(
            try client.records(in: fromMiddle.records).map(\.offset), [3, 4], "the whole containing batch comes back")
        let outOfRange = try await client.fetch("orders", offset: 6)
        XCTAssertEqual(outOfRange.errorCode, 1)
    }

    func testCorruptBatchIsRefusedAndNothingIsWritten() async throws {
        let client = try BrokerHarness()
        _ = try await client.produce("orders", batch: try batch(["ok"]))
        var bad = try batch(["tampered"])
        let last = bad.bytes.writerIndex - 1
        bad.bytes.setInteger(bad.bytes.getInteger(at: last, as: UInt8.self)! ^ 0xFF, at: last)
        let response = try await client.produce("orders", batch: bad)
        XCTAssertEqual(response.errorCode, 2, "CORRUPT_MESSAGE")
        XCTAssertNotNil(response.errorMessage)
        let latest = try await client.listOffset("orders", timestamp: -1)
        XCTAssertEqual(latest.offset, 1)
    }

    func testAcksZeroGetsNoResponseButIsWritten() async throws {
        let client = try BrokerHarness()
        let request = ProduceRequest(
            acks: 0, timeoutMs: 1000,
            topicData: [.init(name: "fire", partitionData: [.init(index: 0, records: try batch(["x"]).bytes)])])
        guard case .noResponse = try await client.outcome(request, version: 9) else {
            return XCTFail("acks=0 must not be answered")
        }
        let latest = try await client.listOffset("fire", timestamp: -1)
        XCTAssertEqual(latest.offset, 1)
    }

    func testLegacyProduceVersionsAreAnsweredUnsupported() async throws {
        let client = try BrokerHarness()
        let response = try await client.produce("orders", batch: try batch(["x"]), version: 2)
        XCTAssertEqual(response.errorCode, 35)
    }

    func testLongPollFetchReturnsAsSoonAsDataArrives() async throws {
        let client = try BrokerHarness()
        _ = try await client.createTopic("waiting")
        let producer = BrokerHarness(sharing: client)
        async let fetched = client.fetch("waiting", offset: 0, maxWaitMs: 30_000, minBytes: 1)
        try await Task.sleep(for: .milliseconds(50))
        _ = try await producer.produce("waiting", batch: try batch(["late"]))
        let result = try await fetched
        XCTAssertEqual(strings(try client.records(in: result.records)), ["late"])
    }

    func testFetchWithNoDataAndNoWaitReturnsEmpty() async throws {
        let client = try BrokerHarness()
        _ = try await client.createTopic("empty")
        let result = try await client.fetch("empty", offset: 0, maxWaitMs: 0, minBytes: 1)
        XCTAssertEqual(result.errorCode, 0)
        XCTAssertEqual(result.records?.readableBytes ?? 0, 0)
        XCTAssertEqual(result.highWatermark, 0)
    }

    func testUnknownTopicWithoutAutoCreate() async throws {
        var config = BrokerConfig()
        config.autoCreateTopics = false
        let client = try BrokerHarness(config: config)
        let produced = try await client.produce("nope", batch: try batch(["x"]))
        XCTAssertEqual(produced.errorCode, 3)
        let fetched = try await client.fetch("nope", offset: 0)
        XCTAssertEqual(fetched.errorCode, 3)
    }

    func testMinInsyncReplicasAboveOneRefusesAcksAll() async throws {
        let client = try BrokerHarness()
        _ = try await client.createTopic("strict", configs: ["min.insync.replicas": "2"])
        let all = try await client.produce("strict", batch: try batch(["x"]), acks: -1)
        XCTAssertEqual(all.errorCode, 19, "NOT_ENOUGH_REPLICAS")
        let leader = try await client.produce("strict", batch: try batch(["x"]), acks: 1)
        XCTAssertEqual(leader.errorCode, 0)
    }

    func testListOffsetsByTimestamp() async throws {
        let client = try BrokerHarness()
        _ = try await client.produce("t", batch: try batch(["a", "b", "c"], timestamp: 1000))  // 1000, 1001, 1002
        _ = try await client.produce("t", batch: try batch(["d", "e"], timestamp: 2000))  // 2000, 2001
        let exact = try await client.listOffset("t", timestamp: 1001)
        XCTAssertEqual([exact.offset, exact.timestamp], [1, 1001])
        let between = try await client.listOffset("t", timestamp: 1500)
        XCTAssertEqual([between.offset, between.timestamp], [3, 2000])
        let after = try await client.listOffset("t", timestamp: 5000)
        XCTAssertEqual(after.offset, -1)
        let earliest = try await client.listOffset("t", timestamp: -2)
        XCTAssertEqual(earliest.offset, 0)
        let maxTimestamp = try await client.listOffset("t", timestamp: -3)
        XCTAssertEqual([maxTimestamp.offset, maxTimestamp.timestamp], [4, 2001])
    }
}

final class IdempotentProduceTests: XCTestCase {
    func testRetriedBatchIsAnsweredWithItsFirstOffsetAndNotWrittenTwice() async throws {
        let client = try BrokerHarness()
        let ids = try await client.send(
            InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60000), version: 4)
        XCTAssertEqual(ids.errorCode, 0)
        let pid = ids.producerId
        let first = try batch(["a", "b"], producerId: pid, producerEpoch: ids.producerEpoch, baseSequence: 0)
        let second = try batch(["c"], producerId: pid, producerEpoch: ids.producerEpoch, baseSequence: 2)
        let r1 = try await client.produce("idem", batch: first)
        let r2 = try await client.produce("idem", batch: second)
        let retry = try await client.produce("idem", batch: first)
        XCTAssertEqual([r1.baseOffset, r2.baseOffset, retry.baseOffset], [0, 2, 0])
        XCTAssertEqual(retry.errorCode, 0)
        let latest = try await client.listOffset("idem", timestamp: -1)
        XCTAssertEqual(latest.offset, 3, "the retry was not appended")

        let gap = try batch(["e"], producerId: pid, producerEpoch: ids.producerEpoch, baseSequence: 7)
        let refused = try await client.produce("idem", batch: gap)
        XCTAssertEqual(refused.errorCode, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER")

        let stale = try batch(["f"], producerId: pid, producerEpoch: ids.producerEpoch - 1, baseSequence: 3)
        let fenced = try await client.produce("idem", batch: stale)
        XCTAssertEqual(fenced.errorCode, 47, "INVALID_PRODUCER_EPOCH")
    }

    func testProducerIdsAreNeverReusedAcrossRestarts() async throws {
        let storage = InMemoryBrokerStorage()
        let before = try BrokerHarness(storage: storage)
        let a = try await before.send(InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 1), version: 4)
            .producerId
        let after = try BrokerHarness(storage: storage)
        let b = try await after.send(InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 1), version: 4)
            .producerId
        XCTAssertGreaterThan(b, a)
    }
}

final class AdminTests: XCTestCase {
    func testCreateTopicsValidates() async throws {
        let client = try BrokerHarness()
        let result1 = try await client.createTopic("orders", partitions: 3)
        XCTAssertEqual(result1.errorCode, 0)
        let result2 = try await client.createTopic("orders")
        XCTAssertEqual(result2.errorCode, 36, "TOPIC_ALREADY_EXISTS")
        let result3 = try await client.createTopic("bad/name")
        XCTAssertEqual(result3.errorCode, 17, "INVALID_TOPIC_EXCEPTION")
        let result4 = try await client.createTopic("zero", partitions: 0)
        XCTAssertEqual(result4.errorCode, 37, "INVALID_PARTITIONS")
        let result5 = try await client.createTopic("typo", configs: ["retention.mss": "1"])
        XCTAssertEqual(result5.errorCode, 40, "INVALID_CONFIG")
        let result6 = try await client.createTopic("neg", configs: ["retention.ms": "-7"])
        XCTAssertEqual(result6.errorCode, 40)
        let replicated = try await client.send(
            CreateTopicsRequest(
                topics: [.init(name: "rf3", numPartitions: 1, replicationFactor: 3)], timeoutMs: 1000), version: 7)
        XCTAssertEqual(replicated.topics[0].errorCode, 38, "INVALID_REPLICATION_FACTOR")
        let metadata = try await client.send(MetadataRequest(topics: nil), version: 12)
        XCTAssertEqual(metadata.userTopics.map(\.name), ["orders"])
        XCTAssertEqual(metadata.userTopics[0].partitions.map(\.partitionIndex), [0, 1, 2])
    }

    func testConfigsCanBeDescribedAndChanged() async throws {
        let client = try BrokerHarness()
        _ = try await client.createTopic("cfg", configs: ["retention.ms": "60000"])
        func describe() async throws -> [String: DescribeConfigsResponse.DescribeConfigsResourceResult] {
            let response = try await client.send(
                DescribeConfigsRequest(resources: [.init(resourceType: 2, resourceName: "cfg", configurationKeys: nil)]
                ), version: 4)
            XCTAssertEqual(response.results[0].errorCode, 0)
            return Dictionary(uniqueKeysWithValues: response.results[0].configs.map { ($0.name, $0) })
        }
        var configs = try await describe()
        XCTAssertEqual(configs["retention.ms"]?.value, "60000")
        XCTAssertEqual(configs["retention.ms"]?.configSource, 1)
        XCTAssertEqual(configs["cleanup.policy"]?.value, "delete")
        XCTAssertEqual(configs["cleanup.policy"]?.configSource, 5)

        let incremental = try await client.send(
            IncrementalAlterConfigsRequest(
                resources: [
                    .init(
                        resourceType: 2, resourceName: "cfg",
                        configs: [
                            .init(name: "segment.bytes", configOperation: 0, value: "1048576"),
                            .init(name: "retention.ms", configOperation: 1, value: nil)
                        ])
                ], validateOnly: false), version: 1)
        XCTAssertEqual(incremental.responses[0].errorCode, 0)
        configs = try await describe()
        XCTAssertEqual(configs["segment.bytes"]?.value, "1048576")
        XCTAssertEqual(configs["retention.ms"]?.configSource, 5, "deleted override falls back to the default")

        let bad = try await client.send(
            IncrementalAlterConfigsRequest(
                resources: [
                    .init(
                        resourceType: 2, resourceName: "cfg",
                        configs: [.init(name: "compression.type", configOperation: 0, value: "gzip")])
                ],
                validateOnly: false), version: 1)
        XCTAssertEqual(bad.responses[0].errorCode, 40)
        XCTAssertNotNil(bad.responses[0].errorMessage)

        let replace = try await client.send(
            AlterConfigsRequest(
                resources: [
                    .init(
                        resourceType: 2, resourceName: "cfg", configs: [.init(name: "cleanup.policy", value: "compact")]
                    )
                ], validateOnly: false), version: 1)
        XCTAssertEqual(replace.responses[0].errorCode, 0)
        configs = try await describe()
        XCTAssertEqual(configs["cleanup.policy"]?.value, "compact")
        XCTAssertEqual(configs["segment.bytes"]?.configSource, 5, "AlterConfigs replaces the whole set")
    }

    func testDeleteRecordsRaisesTheLogStart() async throws {
        let client = try BrokerHarness()
        _ = try await client.produce("trim", batch: try batch(["a", "b"]))
        _ = try await client.produce("trim", batch: try batch(["c", "d"]))
        let response = try await client.send(
            DeleteRecordsRequest(
                topics: [.init(name: "trim", partitions: [.init(partitionIndex: 0, offset: 2)])], timeoutMs: 1000),
            version: 2)
        XCTAssertEqual(response.topics[0].partitions[0].errorCode, 0)
        XCTAssertEqual(response.topics[0].partitions[0].lowWatermark, 2)
        let earliest = try await client.listOffset("trim", timestamp: -2)
        XCTAssertEqual(earliest.offset, 2)
        let below = try await client.fetch("trim", offset: 0)
        XCTAssertEqual(below.errorCode, 1, "OFFSET_OUT_OF_RANGE below the log start")
        let tooFar = try await client.send(
            DeleteRecordsRequest(
                topics: [.init(name: "trim", partitions: [.init(partitionIndex: 0, offset: 99)])], timeoutMs: 1000),
            version: 2)
        XCTAssertEqual(tooFar.topics[0].partitions[0].errorCode, 1)
    }

    func testCreatePartitionsAndDeleteTopics() async throws {
        let client = try BrokerHarness()
        _ = try await client.createTopic("grow")
        let grown = try await client.send(
            CreatePartitionsRequest(
                topics: [.init(name: "grow", count: 3, assignments: nil)], timeoutMs: 1000, validateOnly: false),
            version: 3)
        XCTAssertEqual(grown.results[0].errorCode, 0)
        let shrink = try await client.send(
            CreatePartitionsRequest(
                topics: [.init(name: "grow", count: 2, assignments: nil)], timeoutMs: 1000, validateOnly: false),
            version: 3)
        XCTAssertEqual(shrink.results[0].errorCode, 37)
        let produced = try await client.produce("grow", partition: 2, batch: try batch(["p2"]))
        XCTAssertEqual(produced.errorCode, 0)

        let deleted = try await client.send(
            DeleteTopicsRequest(topicNames: ["grow", "missing"], timeoutMs: 1000), version: 5)
        XCTAssertEqual(deleted.responses.map(\.errorCode), [0, 3])
        let metadata = try await client.send(MetadataRequest(topics: nil), version: 12)
        XCTAssertTrue(metadata.userTopics.isEmpty)
    }

    func testDescribeCluster() async throws {
        let client = try BrokerHarness()
        let response = try await client.send(
            DescribeClusterRequest(includeClusterAuthorizedOperations: false), version: 1)
        XCTAssertEqual(response.clusterId, client.broker.clusterId)
        XCTAssertEqual(response.brokers.map(\.brokerId), [0])
    }
}

final class RestartTests: XCTestCase {
    func testTopicsRecordsAndProducerStateSurviveARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "strait-restart-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let first = try BrokerHarness(storage: try FileBrokerStorage(directory: directory, logger: logger))
        _ = try await first.createTopic("durable", partitions: 2, configs: ["retention.ms": "-1"])
        let idempotent = try batch(["x", "y"], producerId: 5, producerEpoch: 0, baseSequence: 0)
        _ = try await first.produce("durable", partition: 1, batch: idempotent)
        let idBefore = try await first.send(MetadataRequest(topics: nil), version: 12).userTopics[0].topicId
        first.broker.shutdown()

        let second = try BrokerHarness(storage: try FileBrokerStorage(directory: directory, logger: logger))
        let metadata = try await second.send(MetadataRequest(topics: nil), version: 12)
        XCTAssertEqual(metadata.userTopics.map(\.name), ["durable"])
        XCTAssertEqual(metadata.userTopics[0].topicId, idBefore)
        XCTAssertEqual(metadata.userTopics[0].partitions.count, 2)
        let fetched = try await second.fetch("durable", partition: 1, offset: 0)
        XCTAssertEqual(strings(try second.records(in: fetched.records)), ["x", "y"])
        let retry = try await second.produce("durable", partition: 1, batch: idempotent)
        XCTAssertEqual(retry.baseOffset, 0, "a retry after restart is still recognised")
        let latest = try await second.listOffset("durable", partition: 1, timestamp: -1)
        XCTAssertEqual(latest.offset, 2)
        second.broker.shutdown()
    }
}

extension MetadataResponse {
    /// The topics minus the broker's internal ones (the groups topic is always there).
    var userTopics: [MetadataResponseTopic] { topics.filter { !$0.isInternal } }
}
