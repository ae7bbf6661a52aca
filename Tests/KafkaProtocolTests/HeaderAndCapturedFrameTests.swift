import KafkaProtocol
import NIOCore
import XCTest

final class HeaderTests: XCTestCase {
    func testHeaderVersionsFollowFlexibleVersions() {
        XCTAssertEqual(APIKey.metadata.requestHeaderVersion(apiVersion: 8), 1)
        XCTAssertEqual(APIKey.metadata.requestHeaderVersion(apiVersion: 9), 2)
        XCTAssertEqual(APIKey.metadata.responseHeaderVersion(apiVersion: 8), 0)
        XCTAssertEqual(APIKey.metadata.responseHeaderVersion(apiVersion: 9), 1)
        XCTAssertEqual(APIKey.saslHandshake.requestHeaderVersion(apiVersion: 1), 1, "never flexible")
        XCTAssertEqual(APIKey.describeCluster.requestHeaderVersion(apiVersion: 0), 2, "flexible from v0")
    }

    func testApiVersionsResponseHeaderIsAlwaysV0() {
        for version in ApiVersionsRequest.validVersions {
            XCTAssertEqual(APIKey.apiVersions.responseHeaderVersion(apiVersion: version), 0)
        }
        XCTAssertEqual(APIKey.apiVersions.requestHeaderVersion(apiVersion: 3), 2)
    }

    func testUnknownKeyOrVersionIsReadAsHeaderV1() throws {
        // API key 999 and ApiVersions v9 do not exist: no tagged section is read after ClientId,
        // so the byte after it stays in the buffer for the caller.
        for (key, version) in [(Int16(999), Int16(0)), (18, 9)] {
            var buffer = ByteBuffer()
            RequestHeader(apiKey: key, apiVersion: version, correlationId: 9, clientId: nil).encode(into: &buffer)
            buffer.writeKafkaInt8(0x00)
            let header = try RequestHeader.decode(from: &buffer)
            XCTAssertEqual(header.headerVersion, 1)
            XCTAssertEqual(header.apiKey, key)
            XCTAssertNil(header.clientId)
            XCTAssertEqual(buffer.readableBytes, 1)
        }
    }

    func testRequestHeaderV2SkipsUnknownTags() throws {
        var buffer = ByteBuffer(bytes: [
            0x00, 0x03, 0x00, 0x0C, 0x00, 0x00, 0x00, 0x07, 0xFF, 0xFF,
            0x01, 0x03, 0x02, 0xAB, 0xCD
        ])
        let header = try RequestHeader.decode(from: &buffer)
        XCTAssertEqual(header, RequestHeader(apiKey: .metadata, apiVersion: 12, correlationId: 7, clientId: nil))
        XCTAssertEqual(buffer.readableBytes, 0)
    }

    func testTruncatedRequestHeaderThrowsAtEveryLength() throws {
        var full = ByteBuffer()
        RequestHeader(apiKey: .fetch, apiVersion: 12, correlationId: 1, clientId: "client").encode(into: &full)
        for length in 0..<full.readableBytes {
            var prefix = full.getSlice(at: 0, length: length)!
            XCTAssertThrowsError(try RequestHeader.decode(from: &prefix), "prefix \(length)")
        }
    }

    func testResponseHeaderLayouts() throws {
        var v0 = ByteBuffer()
        ResponseHeader.encode(correlationId: 258, headerVersion: 0, into: &v0)
        XCTAssertEqual(Array(v0.readableBytesView), [0, 0, 1, 2])
        var v1 = ByteBuffer()
        ResponseHeader.encode(correlationId: 258, headerVersion: 1, into: &v1)
        XCTAssertEqual(Array(v1.readableBytesView), [0, 0, 1, 2, 0])
        XCTAssertEqual(try ResponseHeader.decode(from: &v1, headerVersion: 1).correlationId, 258)
        XCTAssertEqual(v1.readableBytes, 0)
    }
}

/// Request frames (without the INT32 size prefix) captured from kcat 1.7 / librdkafka 2.0.2 by a
/// Python socket listener posing as a broker (client.id=strait-test).
final class CapturedFrameTests: XCTestCase {
    /// `kcat -L`: the first frame on a connection.
    static let apiVersionsV3 =
        "0012000300000001000b7374726169742d74657374000b6c696272646b61666b6106322e302e3200"
    /// `kcat -L -t orders`, after an ApiVersions answer advertising Metadata 0-4.
    static let metadataV4 =
        "0003000400000002000b7374726169742d746573740000000100066f726465727301"
    /// `echo hello | kcat -P -t orders -p 0`, after ApiVersions advertised Produce 0-7; librdkafka
    /// sent a legacy v0 message set here (it had not enabled message format v2).
    static let produceV7 =
        "0000000700000003000b7374726169742d74657374ffffffff000075300000000100066f72646572730000000100000000"
        + "0000001f00000000000000000000001387a77ab20000ffffffff0000000568656c6c6f"

    func testKcatApiVersionsV3() throws {
        let frame = try bytes(hex: Self.apiVersionsV3)
        var buffer = ByteBuffer(bytes: frame)
        let header = try RequestHeader.decode(from: &buffer)
        XCTAssertEqual(
            header, RequestHeader(apiKey: .apiVersions, apiVersion: 3, correlationId: 1, clientId: "strait-test"))
        let request = try ApiVersionsRequest(from: &buffer, version: header.apiVersion)
        XCTAssertEqual(request.clientSoftwareName, "librdkafka")
        XCTAssertEqual(request.clientSoftwareVersion, "2.0.2")
        XCTAssertEqual(buffer.readableBytes, 0)
        try assertReencodes(header: header, body: request, to: frame)
    }

    func testKcatMetadataV4() throws {
        let frame = try bytes(hex: Self.metadataV4)
        var buffer = ByteBuffer(bytes: frame)
        let header = try RequestHeader.decode(from: &buffer)
        XCTAssertEqual(
            header, RequestHeader(apiKey: .metadata, apiVersion: 4, correlationId: 2, clientId: "strait-test"))
        let request = try MetadataRequest(from: &buffer, version: 4)
        XCTAssertEqual(request.topics?.map(\.name), ["orders"])
        XCTAssertTrue(request.allowAutoTopicCreation)
        XCTAssertEqual(buffer.readableBytes, 0)
        try assertReencodes(header: header, body: request, to: frame)
    }

    func testKcatProduceV7() throws {
        let frame = try bytes(hex: Self.produceV7)
        var buffer = ByteBuffer(bytes: frame)
        let header = try RequestHeader.decode(from: &buffer)
        XCTAssertEqual(
            header, RequestHeader(apiKey: .produce, apiVersion: 7, correlationId: 3, clientId: "strait-test"))
        let request = try ProduceRequest(from: &buffer, version: 7)
        XCTAssertNil(request.transactionalId)
        XCTAssertEqual(request.acks, -1)
        XCTAssertEqual(request.timeoutMs, 30_000)
        XCTAssertEqual(request.topicData.map(\.name), ["orders"])
        let partition = try XCTUnwrap(request.topicData.first?.partitionData.first)
        XCTAssertEqual(partition.index, 0)
        let records = try XCTUnwrap(partition.records)
        XCTAssertEqual(records.readableBytes, 31)
        XCTAssertEqual(records.getBytes(at: records.readerIndex + 26, length: 5), Array("hello".utf8))
        XCTAssertEqual(buffer.readableBytes, 0)
        try assertReencodes(header: header, body: request, to: frame)
    }

    func testEveryStrictPrefixOfTheCapturedProduceFrameFails() throws {
        let frame = try bytes(hex: Self.produceV7)
        for length in 0..<frame.count {
            var buffer = ByteBuffer(bytes: frame[0..<length])
            XCTAssertThrowsError(
                try {
                    let header = try RequestHeader.decode(from: &buffer)
                    _ = try ProduceRequest(from: &buffer, version: header.apiVersion)
                }(), "prefix \(length)")
        }
    }

    private func assertReencodes<M: KafkaMessage>(
        header: RequestHeader, body: M, to frame: [UInt8],
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        var encoded = ByteBuffer()
        header.encode(into: &encoded)
        try body.encode(into: &encoded, version: header.apiVersion)
        XCTAssertEqual(Array(encoded.readableBytesView), frame, file: file, line: line)
    }

    private func bytes(hex: String) throws -> [UInt8] {
        let digits = Array(hex.utf8)
        XCTAssertEqual(digits.count % 2, 0)
        return try stride(from: 0, to: digits.count, by: 2).map { index in
            try XCTUnwrap(UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16))
        }
    }
}
