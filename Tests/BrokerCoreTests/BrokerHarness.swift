import Foundation
import BrokerCore
import KafkaProtocol
import KafkaRecords
import Logging
import NIOCore
import XCTest

/// Talks to a sans-IO Broker the way a client would: encodes a request frame, hands it to
/// `Broker.handle`, decodes the response frame.
final class BrokerHarness: @unchecked Sendable {
    let broker: Broker
    private var correlationId: Int32 = 0
    /// The broker's clock, in milliseconds; tests move it by hand.
    let clock: TestClock
    /// The connection this client's requests arrive on (its session lasts across requests).
    var connection = ConnectionContext(id: 1, remoteAddress: "test")

    init(
        config: BrokerConfig = BrokerConfig(), storage: any BrokerStorage = InMemoryBrokerStorage(),
        clock: TestClock = TestClock()
    ) throws {
        self.clock = clock
        var logger = Logger(label: "test.broker")
        logger.logLevel = .critical
        broker = try Broker(config: config, storage: storage, logger: logger, now: { clock.milliseconds })
    }

    /// A second client of the same broker (its own correlation ids).
    init(sharing other: BrokerHarness) {
        broker = other.broker
        clock = other.clock
    }

    func frame<Request: KafkaRequestMessage>(_ request: Request, version: Int16, correlationId: Int32) throws
        -> ByteBuffer
    {
        var buffer = ByteBuffer()
        RequestHeader(
            apiKey: Request.apiKey.rawValue, apiVersion: version, correlationId: correlationId, clientId: "harness"
        )
        .encode(into: &buffer)
        try request.encode(into: &buffer, version: version)
        return buffer
    }

    func outcome<Request: KafkaRequestMessage>(_ request: Request, version: Int16) async throws -> RequestOutcome {
        correlationId += 1
        return await broker.handle(
            frame: try frame(request, version: version, correlationId: correlationId),
            connection: connection)
    }

    /// Hands a raw frame (no request header: a SASL token after SaslHandshake v0) to the broker.
    func raw(_ bytes: [UInt8]) async -> RequestOutcome {
        await broker.handle(frame: ByteBuffer(bytes: bytes), connection: connection)
    }

    func send<Request: KafkaRequestMessage>(
        _ request: Request, version: Int16,
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> Request.Response {
        let outcome = try await outcome(request, version: version)
        guard case var .respond(response) = outcome else {
            XCTFail("expected a response, got \(outcome)", file: file, line: line)
            throw HarnessError.noResponse
        }
        let length = response.readInteger(as: Int32.self)
        XCTAssertEqual(Int(length ?? -1), response.readableBytes, "length prefix", file: file, line: line)
        let header = try ResponseHeader.decode(
            from: &response, headerVersion: Request.apiKey.responseHeaderVersion(apiVersion: version))
        XCTAssertEqual(header.correlationId, correlationId, file: file, line: line)
        let decoded = try Request.Response(from: &response, version: version)
        XCTAssertEqual(response.readableBytes, 0, "trailing bytes in response", file: file, line: line)
        return decoded
    }

    // MARK: Conveniences that read like a client session

    func createTopic(_ name: String, partitions: Int32 = 1, configs: [String: String] = [:]) async throws
        -> CreateTopicsResponse.CreatableTopicResult
    {
        let response = try await send(
            CreateTopicsRequest(
                topics: [
                    .init(
                        name: name, numPartitions: partitions, replicationFactor: 1, assignments: [],
                        configs: configs.map { .init(name: $0.key, value: $0.value) })
                ],
                timeoutMs: 1000), version: 7)
        return response.topics[0]
    }

    func produce(_ topic: String, partition: Int32 = 0, batch: StoredBatch, acks: Int16 = -1, version: Int16 = 9)
        async throws -> ProduceResponse.PartitionProduceResponse
    {
        let response = try await send(
            ProduceRequest(
                transactionalId: nil, acks: acks, timeoutMs: 1000,
                topicData: [.init(name: topic, partitionData: [.init(index: partition, records: batch.bytes)])]),
            version: version)
        return response.responses[0].partitionResponses[0]
    }

    func fetch(
        _ topic: String, partition: Int32 = 0, offset: Int64, maxWaitMs: Int32 = 0, minBytes: Int32 = 0,
        maxBytes: Int32 = 1 << 20, version: Int16 = 12
    ) async throws -> FetchResponse.PartitionData {
        let response = try await send(
            FetchRequest(
                replicaId: -1, maxWaitMs: maxWaitMs, minBytes: minBytes, maxBytes: maxBytes, isolationLevel: 0,
                sessionId: 0, sessionEpoch: -1,
                topics: [
                    .init(
                        topic: topic,
                        partitions: [.init(partition: partition, fetchOffset: offset, partitionMaxBytes: maxBytes)])
                ],
                forgottenTopicsData: [], rackId: ""), version: version)
        return response.responses[0].partitions[0]
    }

    func listOffset(_ topic: String, partition: Int32 = 0, timestamp: Int64) async throws
        -> ListOffsetsResponse.ListOffsetsPartitionResponse
    {
        let response = try await send(
            ListOffsetsRequest(
                replicaId: -1, isolationLevel: 0,
                topics: [.init(name: topic, partitions: [.init(partitionIndex: partition, timestamp: timestamp)])]),
            version: 7)
        return response.topics[0].partitions[0]
    }

    func records(in buffer: ByteBuffer?) throws -> [Record] {
        guard let buffer else { return [] }
        return try RecordBatches.split(buffer, verifyCRC: true).flatMap { try RecordBatchDecoder.records(in: $0) }
    }
}

enum HarnessError: Error { case noResponse }

final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var now: Int64 = 1_700_000_000_000
    var milliseconds: Int64 { lock.withLock { now } }
    func advance(by ms: Int64) { lock.withLock { now += ms } }
}

func batch(
    _ values: [String], key: String? = "k", timestamp: Int64 = 1_700_000_000_000, codec: CompressionCodec = .none,
    producerId: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1
) throws -> StoredBatch {
    var builder = RecordBatchBuilder(
        codec: codec, producerId: producerId, producerEpoch: producerEpoch, baseSequence: baseSequence)
    for (i, value) in values.enumerated() {
        builder.append(
            key: key.map { Array($0.utf8) }, value: Array(value.utf8),
            headers: [RecordHeader(key: "h", value: Array("\(i)".utf8))], timestamp: timestamp + Int64(i))
    }
    return try builder.build()
}

func strings(_ records: [Record]) -> [String] { records.map { String(decoding: $0.value ?? [], as: UTF8.self) } }
