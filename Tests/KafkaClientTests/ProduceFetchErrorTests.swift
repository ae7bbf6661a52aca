import KafkaProtocol
import KafkaRecords
import NIOConcurrencyHelpers
import NIOCore
import XCTest
@testable import KafkaClient

/// Produce and Fetch error handling against fake brokers with canned answers.
final class ProduceFetchErrorTests: XCTestCase {
    private static let topicId = KafkaUUID(high: 0x1234, low: 0x5678)

    private static let advertised: [APIKey: ClosedRange<Int16>] = FakeKafkaServer.defaultAdvertised.merging(
        [.produce: 0...11, .fetch: 4...12]) { $1 }

    private func cluster(_ server: FakeKafkaServer) throws -> KafkaCluster {
        var configuration = KafkaClientConfiguration()
        configuration.retry = RetryPolicy(maxAttempts: 4, initialBackoff: .zero, maxBackoff: .zero)
        return try KafkaCluster(bootstrapServers: [server.address], configuration: configuration, sleep: { _ in })
    }

    private static func metadata(port: Int, topicId: KafkaUUID = .zero) -> MetadataResponse {
        MetadataResponse(
            brokers: [.init(nodeId: 0, host: "127.0.0.1", port: Int32(port))], clusterId: "c", controllerId: 0,
            topics: [.init(name: "t", topicId: topicId, partitions: [.init(partitionIndex: 0, leaderId: 0)])])
    }

    private func batch(_ values: [String], baseOffset: Int64 = 0) throws -> StoredBatch {
        var builder = RecordBatchBuilder()
        builder.baseOffset = baseOffset
        for (i, value) in values.enumerated() {
            builder.append(key: nil, value: Array(value.utf8), timestamp: 1_700_000_000_000 + Int64(i))
        }
        return try builder.build()
    }

    func testNotLeaderOrFollowerRefreshesMetadataAndRetries() async throws {
        let port = NIOLockedValueBox(0)
        let produceCalls = NIOLockedValueBox(0), fetchCalls = NIOLockedValueBox(0)
        let stored = try batch(["x", "y"], baseOffset: 40)
        let server = FakeKafkaServer(advertised: Self.advertised) { header, body in
            switch APIKey(rawValue: header.apiKey)! {
            case .metadata:
                return .respond(Self.metadata(port: port.withLockedValue { $0 }))
            case .produce:
                let request = decodeRequest(ProduceRequest.self, header, body)
                XCTAssertEqual(request.acks, -1)
                let first = produceCalls.withLockedValue {
                    $0 += 1; return $0 == 1
                }
                return .respond(
                    ProduceResponse(responses: [
                        .init(
                            name: "t",
                            partitionResponses: [
                                .init(
                                    index: 0, errorCode: first ? 6 : 0, baseOffset: first ? -1 : 40, logStartOffset: 0)
                            ])
                    ]))
            case .fetch:
                let request = decodeRequest(FetchRequest.self, header, body)
                XCTAssertEqual(request.replicaId, -1)
                XCTAssertEqual(request.sessionId, 0)
                XCTAssertEqual(request.sessionEpoch, -1)
                let first = fetchCalls.withLockedValue {
                    $0 += 1; return $0 == 1
                }
                return .respond(
                    FetchResponse(responses: [
                        .init(
                            topic: "t",
                            partitions: [
                                first
                                    ? .init(partitionIndex: 0, errorCode: 6, highWatermark: -1)
                                    : .init(
                                        partitionIndex: 0, highWatermark: 42, lastStableOffset: 42, logStartOffset: 0,
                                        records: stored.bytes)
                            ])
                    ]))
            default:
                return nil
            }
        }
        _ = try await server.start()
        port.withLockedValue { $0 = server.port }
        defer { Task { await server.stop() } }
        let cluster = try cluster(server)
        let tp = TopicPartition("t", 0)

        let produced = try await cluster.produce([tp: try batch(["x", "y"])])
        XCTAssertEqual(produced[tp]?.baseOffset, 40)
        XCTAssertEqual(produceCalls.withLockedValue { $0 }, 2)
        let metadataAfterProduce = server.requests(for: .metadata).count
        XCTAssertEqual(metadataAfterProduce, 2, "metadata refreshed before the retry")

        let fetched = try await cluster.fetch([tp: FetchPosition(offset: 40)], maxWaitMs: 0)
        XCTAssertEqual(fetched[tp]?.errorCode, KafkaErrorCode.none)
        XCTAssertEqual(fetched[tp]?.batches.map(\.header.baseOffset), [40])
        XCTAssertEqual(fetched[tp]?.highWatermark, 42)
        XCTAssertEqual(fetchCalls.withLockedValue { $0 }, 2)
        XCTAssertEqual(server.requests(for: .metadata).count, metadataAfterProduce + 1)
        await cluster.close()
    }

    func testProduceIsNotResentWhenTheOutcomeIsUnknown() async throws {
        let port = NIOLockedValueBox(0)
        let server = FakeKafkaServer(advertised: Self.advertised) { header, _ in
            switch APIKey(rawValue: header.apiKey)! {
            case .metadata: return .respond(Self.metadata(port: port.withLockedValue { $0 }))
            case .produce: return .close
            default: return nil
            }
        }
        _ = try await server.start()
        port.withLockedValue { $0 = server.port }
        defer { Task { await server.stop() } }
        let cluster = try cluster(server)
        let tp = TopicPartition("t", 0)
        let produced = try await cluster.produce([tp: try batch(["x"])])
        XCTAssertEqual(produced[tp]?.errorCode, .networkException)
        guard case .connectionClosed? = produced[tp]?.clientError else {
            return XCTFail("\(String(describing: produced[tp]))")
        }
        XCTAssertEqual(server.requests(for: .produce).count, 1, "sent once: it may have been appended")
        await cluster.close()
    }

    func testTruncatedTrailingBatchIsDroppedAndACorruptOneReported() async throws {
        let port = NIOLockedValueBox(0)
        let first = try batch(["a", "b"], baseOffset: 0), second = try batch(["c", "d", "e"], baseOffset: 2)
        var records = first.bytes
        records.writeImmutableBuffer(
            second.bytes.getSlice(at: second.bytes.readerIndex, length: second.bytes.readableBytes - 5)!)
        var corrupt = first.bytes
        var flipped = second.bytes
        let last = flipped.writerIndex - 1
        flipped.setInteger(flipped.getInteger(at: last, as: UInt8.self)! ^ 0xff, at: last)
        corrupt.writeImmutableBuffer(flipped)
        let (truncatedRecords, corruptRecords) = (records, corrupt)
        let server = FakeKafkaServer(advertised: Self.advertised) { header, body in
            switch APIKey(rawValue: header.apiKey)! {
            case .metadata: return .respond(Self.metadata(port: port.withLockedValue { $0 }))
            case .fetch:
                let request = decodeRequest(FetchRequest.self, header, body)
                let offset = request.topics[0].partitions[0].fetchOffset
                return .respond(
                    FetchResponse(responses: [
                        .init(
                            topic: "t",
                            partitions: [
                                .init(
                                    partitionIndex: 0, highWatermark: 5, lastStableOffset: 5, logStartOffset: 0,
                                    records: offset == 0 ? truncatedRecords : corruptRecords)
                            ])
                    ]))
            default: return nil
            }
        }
        _ = try await server.start()
        port.withLockedValue { $0 = server.port }
        defer { Task { await server.stop() } }
        let cluster = try cluster(server)
        let tp = TopicPartition("t", 0)

        let truncated = try await cluster.fetch([tp: FetchPosition(offset: 0)], maxWaitMs: 0)
        XCTAssertEqual(truncated[tp]?.errorCode, KafkaErrorCode.none)
        XCTAssertNil(truncated[tp]?.clientError)
        XCTAssertEqual(truncated[tp]?.batches.map(\.header.baseOffset), [0])
        XCTAssertEqual(truncated[tp]?.nextOffset, 2)

        let bad = try await cluster.fetch([tp: FetchPosition(offset: 1)], maxWaitMs: 0)
        XCTAssertEqual(bad[tp]?.errorCode, .corruptMessage)
        guard case .malformedResponse? = bad[tp]?.clientError else {
            return XCTFail("\(String(describing: bad[tp]?.clientError))")
        }
        XCTAssertEqual(bad[tp]?.batches.map(\.header.baseOffset), [0], "the valid batch before the corrupt one")
        await cluster.close()
    }

    func testFetchNamesTopicsByIdFromVersion13() async throws {
        let port = NIOLockedValueBox(0)
        let stored = try batch(["x"], baseOffset: 0)
        let advertised = Self.advertised.merging([.fetch: 4...17]) { $1 }
        let server = FakeKafkaServer(advertised: advertised) { header, body in
            switch APIKey(rawValue: header.apiKey)! {
            case .metadata: return .respond(Self.metadata(port: port.withLockedValue { $0 }, topicId: Self.topicId))
            case .fetch:
                XCTAssertEqual(header.apiVersion, 17)
                let request = decodeRequest(FetchRequest.self, header, body)
                XCTAssertEqual(request.topics.map(\.topicId), [Self.topicId])
                XCTAssertEqual(request.replicaState.replicaId, -1)
                return .respond(
                    FetchResponse(responses: [
                        .init(
                            topicId: Self.topicId,
                            partitions: [
                                .init(
                                    partitionIndex: 0, highWatermark: 1, lastStableOffset: 1, logStartOffset: 0,
                                    records: stored.bytes)
                            ])
                    ]))
            default: return nil
            }
        }
        _ = try await server.start()
        port.withLockedValue { $0 = server.port }
        defer { Task { await server.stop() } }
        let cluster = try cluster(server)
        let tp = TopicPartition("t", 0)
        let fetched = try await cluster.fetch([tp: FetchPosition(offset: 0)], maxWaitMs: 0)
        XCTAssertEqual(fetched[tp]?.batches.count, 1)
        XCTAssertEqual(fetched[tp]?.highWatermark, 1)
        await cluster.close()
    }

    func testAcksZeroCompletesOnWriteWithoutAResponse() async throws {
        let port = NIOLockedValueBox(0)
        let server = FakeKafkaServer(advertised: Self.advertised) { header, _ in
            switch APIKey(rawValue: header.apiKey)! {
            case .metadata: return .respond(Self.metadata(port: port.withLockedValue { $0 }))
            case .produce: return FakeKafkaServer.Reply.none  // as Kafka does for acks=0
            default: return nil
            }
        }
        _ = try await server.start()
        port.withLockedValue { $0 = server.port }
        defer { Task { await server.stop() } }
        var configuration = KafkaClientConfiguration()
        configuration.requestTimeout = .milliseconds(200)
        let cluster = try KafkaCluster(bootstrapServers: [server.address], configuration: configuration)
        let tp = TopicPartition("t", 0)
        let results = try await cluster.produce([tp: try batch(["x"])], acks: 0)
        XCTAssertEqual(results[tp], ProduceResult(errorCode: .none))
        // Nothing is left pending: a later request on the connection works normally.
        let metadata = try await cluster.refreshMetadata(topics: ["t"])
        XCTAssertNotNil(metadata.topics["t"])
        await cluster.close()
    }

    func testClientTableCoversTheReplicatorOperations() {
        let table = ClientAPIVersions.implemented
        for api in [
            APIKey.produce, .fetch, .offsetCommit, .createTopics, .deleteTopics, .createPartitions,
            .describeConfigs, .incrementalAlterConfigs
        ] {
            XCTAssertNotNil(table[api], "\(api)")
            XCTAssertTrue(api.requestType.validVersions.contains(table[api]!.upperBound), "\(api) beyond the schema")
        }
    }
}
