import KafkaProtocol
import NIOCore
import XCTest

/// Hand-built frames, checked byte by byte against the layouts in Kafka's schemas.
final class GoldenBytesTests: XCTestCase {
    func testApiVersionsRequestV3WithHeaderV2() throws {
        let frame: [UInt8] = [
            0x00, 0x12,  // RequestApiKey 18
            0x00, 0x03,  // RequestApiVersion 3
            0x00, 0x00, 0x00, 0x2A,  // CorrelationId 42
            0x00, 0x06, 0x73, 0x74, 0x72, 0x61, 0x69, 0x74,  // ClientId "strait" (INT16 length, never compact)
            0x00,  // header tagged fields: none
            0x0B, 0x6C, 0x69, 0x62, 0x72, 0x64, 0x6B, 0x61, 0x66, 0x6B, 0x61,  // ClientSoftwareName "librdkafka" (10 + 1)
            0x07, 0x32, 0x2E, 0x31, 0x35, 0x2E, 0x30,  // ClientSoftwareVersion "2.15.0" (6 + 1)
            0x00  // body tagged fields: none
        ]
        var buffer = ByteBuffer(bytes: frame)
        let header = try RequestHeader.decode(from: &buffer)
        XCTAssertEqual(
            header, RequestHeader(apiKey: .apiVersions, apiVersion: 3, correlationId: 42, clientId: "strait"))
        XCTAssertEqual(header.headerVersion, 2)
        let request = try ApiVersionsRequest(from: &buffer, version: 3)
        XCTAssertEqual(request.clientSoftwareName, "librdkafka")
        XCTAssertEqual(request.clientSoftwareVersion, "2.15.0")
        XCTAssertEqual(buffer.readableBytes, 0)

        var encoded = ByteBuffer()
        header.encode(into: &encoded)
        try request.encode(into: &encoded, version: 3)
        XCTAssertEqual(Array(encoded.readableBytesView), frame)
    }

    func testMetadataRequestV12ByNameAndByTopicID() throws {
        let topicID = KafkaUUID(bytes: Array(0..<16))!
        let body: [UInt8] = [
            0x03,  // Topics: compact array of 2
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // [0].TopicId: zero
            0x07, 0x6F, 0x72, 0x64, 0x65, 0x72, 0x73,  // [0].Name "orders"
            0x00,  // [0] tagged fields
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,  // [1].TopicId
            0x00,  // [1].Name: null (compact nullable string)
            0x00,  // [1] tagged fields
            0x00,  // AllowAutoTopicCreation false
            0x01,  // IncludeTopicAuthorizedOperations true
            0x00  // tagged fields
        ]
        var buffer = ByteBuffer(bytes: body)
        let request = try MetadataRequest(from: &buffer, version: 12)
        XCTAssertEqual(buffer.readableBytes, 0)
        let topics = try XCTUnwrap(request.topics)
        XCTAssertEqual(topics.count, 2)
        XCTAssertEqual(topics[0].topicId, .zero)
        XCTAssertEqual(topics[0].name, "orders")
        XCTAssertEqual(topics[1].topicId, topicID)
        XCTAssertNil(topics[1].name)
        XCTAssertFalse(request.allowAutoTopicCreation)
        XCTAssertTrue(request.includeTopicAuthorizedOperations)
        XCTAssertFalse(request.includeClusterAuthorizedOperations, "only present in v8-10")

        var encoded = ByteBuffer()
        try request.encode(into: &encoded, version: 12)
        XCTAssertEqual(Array(encoded.readableBytesView), body)
    }

    func testProduceRequestV9WithARecordsBlob() throws {
        let records: [UInt8] = [0xDE, 0xAD, 0xBE, 0xEF, 0x01]
        let body: [UInt8] =
            [
                0x03, 0x74, 0x78,  // TransactionalId "tx" (compact nullable)
                0xFF, 0xFF,  // Acks -1
                0x00, 0x00, 0x75, 0x30,  // TimeoutMs 30000
                0x02,  // TopicData: compact array of 1
                0x02, 0x74,  // Name "t"
                0x02,  // PartitionData: compact array of 1
                0x00, 0x00, 0x00, 0x01,  // Index 1
                0x06  // Records: compact length 5 + 1
            ] + records + [
                0x00,  // partition tagged fields
                0x00,  // topic tagged fields
                0x00  // request tagged fields
            ]
        var buffer = ByteBuffer(bytes: body)
        let request = try ProduceRequest(from: &buffer, version: 9)
        XCTAssertEqual(buffer.readableBytes, 0)
        XCTAssertEqual(request.transactionalId, "tx")
        XCTAssertEqual(request.acks, -1)
        XCTAssertEqual(request.timeoutMs, 30_000)
        XCTAssertEqual(request.topicData.map(\.name), ["t"])
        let partition = try XCTUnwrap(request.topicData.first?.partitionData.first)
        XCTAssertEqual(partition.index, 1)
        XCTAssertEqual(partition.records.map { Array($0.readableBytesView) }, records)

        var encoded = ByteBuffer()
        try request.encode(into: &encoded, version: 9)
        XCTAssertEqual(Array(encoded.readableBytesView), body)
    }

    func testApiVersionsResponseV3TaggedFieldsAreWrittenOnlyWhenNotDefault() throws {
        var response = ApiVersionsResponse(
            errorCode: 0,
            apiKeys: [.init(apiKey: 18, minVersion: 0, maxVersion: 3)],
            throttleTimeMs: 0)
        var plain = ByteBuffer()
        try response.encode(into: &plain, version: 3)
        XCTAssertEqual(
            Array(plain.readableBytesView),
            [0x00, 0x00, 0x02, 0x00, 0x12, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00])

        response.finalizedFeaturesEpoch = 7
        var tagged = ByteBuffer()
        try response.encode(into: &tagged, version: 3)
        XCTAssertEqual(
            Array(tagged.readableBytesView.suffix(11)),
            [
                0x01,  // one tagged field
                0x01, 0x08,  // tag 1 (FinalizedFeaturesEpoch), 8 bytes
                0, 0, 0, 0, 0, 0, 0, 7
            ])
        XCTAssertEqual(try ApiVersionsResponse(from: &tagged, version: 3), response)
    }

    func testApiVersionsResponseV0ErrorLayout() throws {
        // The KIP-511 fallback: v0 layout, INT32-counted ApiKeys, no ThrottleTimeMs.
        let response = ApiVersionsResponse(
            errorCode: 35, apiKeys: [.init(apiKey: 18, minVersion: 0, maxVersion: 3)], throttleTimeMs: 99)
        var buffer = ByteBuffer()
        ResponseHeader.encode(
            correlationId: 5, headerVersion: APIKey.apiVersions.responseHeaderVersion(apiVersion: 0), into: &buffer)
        try response.encode(into: &buffer, version: 0)
        XCTAssertEqual(
            Array(buffer.readableBytesView),
            [0, 0, 0, 5, 0x00, 0x23, 0, 0, 0, 1, 0x00, 0x12, 0x00, 0x00, 0x00, 0x03])
    }
}
