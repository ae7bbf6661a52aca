import KafkaProtocol
import NIOCore
import XCTest

/// Every generated message, at every valid version, with every field that exists in that
/// version set to a non-default value.
final class RoundTripTests: XCTestCase {
    func testEveryMessageRoundTripsAtEveryVersion() throws {
        var checked = 0
        for type in allSampledMessageTypes {
            checked += try roundTripEveryVersion(of: type)
        }
        XCTAssertEqual(allSampledMessageTypes.count, 2 * APIKey.allCases.count + 2)
        XCTAssertGreaterThan(checked, 300)
    }

    func testEveryStrictPrefixOfAnEncodedMessageFailsToDecode() throws {
        for type in allSampledMessageTypes {
            try truncateEveryVersion(of: type)
        }
    }

    /// Corrupting any single byte of a valid encoding either still decodes or throws; it never
    /// traps or hangs. Deterministic: a seeded generator picks the replacement bytes.
    func testCorruptedEncodingsDecodeOrThrowButNeverCrash() throws {
        var generator = SeededGenerator(state: 7)
        for type in allSampledMessageTypes {
            try corruptEveryVersion(of: type, using: &generator)
        }
    }

    func testDecodingAVersionOutsideTheSchemaThrows() throws {
        var empty = ByteBuffer()
        XCTAssertThrowsError(try ProduceRequest(from: &empty, version: 12)) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .unsupportedVersion(apiKey: 0, version: 12))
        }
        XCTAssertThrowsError(try FetchResponse(from: &empty, version: -1)) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .unsupportedVersion(apiKey: 1, version: -1))
        }
        XCTAssertThrowsError(try ProduceRequest().encode(into: &empty, version: 12)) { error in
            XCTAssertEqual(error as? KafkaEncodingError, .unsupportedVersion(apiKey: 0, version: 12))
        }
    }

    func testFieldsAbsentFromAVersionAreSkippedOnEncodeAndDefaultedOnDecode() throws {
        // TransactionalId exists from v3; at v2 it is not written and decodes as its default.
        let request = ProduceRequest(transactionalId: "tx", acks: -1, timeoutMs: 1500, topicData: [])
        var buffer = ByteBuffer()
        try request.encode(into: &buffer, version: 2)
        XCTAssertEqual(buffer.readableBytes, 2 + 4 + 4)
        let decoded = try ProduceRequest(from: &buffer, version: 2)
        XCTAssertNil(decoded.transactionalId)
        XCTAssertEqual(decoded.acks, -1)
        XCTAssertEqual(decoded.timeoutMs, 1500)
    }

    func testNilInAVersionThatCannotExpressNullIsWrittenAsEmpty() throws {
        // MetadataRequest.Topics is nullable only from v1; at v0 nil is written as an empty array.
        let request = MetadataRequest(topics: nil)
        var buffer = ByteBuffer()
        try request.encode(into: &buffer, version: 0)
        XCTAssertEqual(buffer.getBytes(at: 0, length: buffer.readableBytes), [0, 0, 0, 0])
        var nullAtV1 = ByteBuffer()
        try request.encode(into: &nullAtV1, version: 1)
        XCTAssertEqual(nullAtV1.getBytes(at: 0, length: nullAtV1.readableBytes), [0xFF, 0xFF, 0xFF, 0xFF])
        XCTAssertNil(try MetadataRequest(from: &nullAtV1, version: 1).topics)
    }

    func testNullInAVersionWhereTheFieldIsNotNullableIsRejected() throws {
        // MetadataRequest v0: Topics is an ARRAY that must not be null.
        var buffer = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])
        XCTAssertThrowsError(try MetadataRequest(from: &buffer, version: 0)) { error in
            XCTAssertEqual(error as? KafkaDecodingError, .unexpectedNull(what: "MetadataRequest.Topics"))
        }
    }

    func testRegistryListsEveryRequestTypeWithItsKey() {
        XCTAssertEqual(KafkaAPIs.all.count, APIKey.allCases.count)
        for type in KafkaAPIs.all {
            XCTAssertEqual(type.apiKey.requestType == type, true, "\(type)")
            XCTAssertTrue(type.validVersions.contains(0))
        }
        XCTAssertEqual(APIKey.produce.name, "Produce")
        XCTAssertEqual(APIKey(rawValue: 18), .apiVersions)
    }

    // MARK: Helpers

    private func roundTripEveryVersion<M: SampledMessage>(of type: M.Type) throws -> Int {
        var checked = 0
        for version in M.validVersions {
            let sample = M.sample(version: version)
            var buffer = ByteBuffer()
            try sample.encode(into: &buffer, version: version)
            let encoded = buffer
            let decoded = try M(from: &buffer, version: version)
            XCTAssertEqual(decoded, sample, "\(M.self) v\(version)")
            XCTAssertEqual(buffer.readableBytes, 0, "\(M.self) v\(version) left bytes unread")
            var reencoded = ByteBuffer()
            try decoded.encode(into: &reencoded, version: version)
            XCTAssertEqual(reencoded, encoded, "\(M.self) v\(version) re-encodes differently")
            checked += 1
        }
        return checked
    }

    private func corruptEveryVersion<M: SampledMessage>(of type: M.Type, using generator: inout SeededGenerator) throws
    {
        for version in M.validVersions {
            var encoded = ByteBuffer()
            try M.sample(version: version).encode(into: &encoded, version: version)
            for index in 0..<encoded.readableBytes {
                var corrupted = encoded
                corrupted.setInteger(UInt8.random(in: 0...255, using: &generator), at: index)
                _ = try? M(from: &corrupted, version: version)
            }
        }
    }

    private func truncateEveryVersion<M: SampledMessage>(of type: M.Type) throws {
        for version in M.validVersions {
            var encoded = ByteBuffer()
            try M.sample(version: version).encode(into: &encoded, version: version)
            for length in 0..<encoded.readableBytes {
                var prefix = encoded.getSlice(at: encoded.readerIndex, length: length)!
                XCTAssertThrowsError(try M(from: &prefix, version: version), "\(M.self) v\(version) prefix \(length)")
            }
        }
    }
}

private func == (lhs: any KafkaRequestMessage.Type, rhs: any KafkaRequestMessage.Type) -> Bool {
    ObjectIdentifier(lhs) == ObjectIdentifier(rhs)
}
