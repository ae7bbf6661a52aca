import KafkaProtocol
import NIOCore
import XCTest

final class SmokeTests: XCTestCase {
    func testMetadataRequestRoundTripsAtVersion12() throws {
        let request = MetadataRequest(
            topics: [MetadataRequest.MetadataRequestTopic(topicId: .zero, name: "orders")],
            allowAutoTopicCreation: false)
        var buffer = ByteBuffer()
        try request.encode(into: &buffer, version: 12)
        let decoded = try MetadataRequest(from: &buffer, version: 12)
        XCTAssertEqual(decoded, request)
        XCTAssertEqual(buffer.readableBytes, 0)
    }
}
