import KafkaProtocol
import NIOCore
import NIOEmbedded
import XCTest

final class FrameDecoderTests: XCTestCase {
    func frame(_ payload: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(payload.count))
        buffer.writeBytes(payload)
        return buffer
    }

    func testFramesAreCutByteByByte() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 1024)))
        let payload = Array(repeating: UInt8(7), count: 12)
        for byte in frame(payload).readableBytesView { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self).map { Array($0.readableBytesView) }, payload)
        XCTAssertTrue(try channel.finish().isClean)
    }

    func testShortFramesAreRefusedUnlessRawSaslTokensAreExpected() throws {
        // A 6-byte SASL/PLAIN token ("\0al\0pw" is shorter than any request header).
        let token: [UInt8] = Array("\0al\0pw".utf8)
        let framing = RequestFraming()
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 1024, framing: framing)))
        framing.expectsRawSaslTokens = true
        try channel.writeInbound(frame(token))
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self).map { Array($0.readableBytesView) }, token)
        try channel.writeInbound(frame([]))
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self)?.readableBytes, 0, "an empty token is a frame too")
        framing.expectsRawSaslTokens = false
        XCTAssertThrowsError(try channel.writeInbound(frame(token))) { error in
            XCTAssertTrue("\(error)".contains("smaller than any request header"), "\(error)")
        }
    }

    func testFramesAreCappedBeforeAuthenticationWithoutReadingTheBody() throws {
        let framing = RequestFraming(maxBytesBeforeAuthentication: 1000)
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 1 << 20, framing: framing)))
        try channel.writeInbound(frame(Array(repeating: 1, count: 1000)))
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self)?.readableBytes, 1000, "up to the cap")
        // Only the size prefix of a 1 MB frame has arrived: refused at once.
        var prefix = ByteBuffer()
        prefix.writeInteger(Int32(1_048_576))
        XCTAssertThrowsError(try channel.writeInbound(prefix)) { error in
            XCTAssertEqual(
                error as? KafkaFrameDecoder.FrameError, .tooLargeBeforeAuthentication(size: 1_048_576, limit: 1000))
            XCTAssertEqual(
                "\(error)",
                "request frame of 1048576 bytes before SASL authentication exceeds sasl-max-receive-bytes 1000")
        }
    }

    func testAuthenticationLiftsTheCap() throws {
        let framing = RequestFraming(maxBytesBeforeAuthentication: 1000)
        XCTAssertEqual(framing.maxBytesBeforeAuthentication, 1000)
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 1 << 20, framing: framing)))
        framing.authenticated()
        XCTAssertNil(framing.maxBytesBeforeAuthentication)
        try channel.writeInbound(frame(Array(repeating: 1, count: 5000)))
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self)?.readableBytes, 5000)
        // The connection's own limit still applies.
        var prefix = ByteBuffer()
        prefix.writeInteger(Int32(2 << 20))
        XCTAssertThrowsError(try channel.writeInbound(prefix)) { error in
            XCTAssertEqual(error as? KafkaFrameDecoder.FrameError, .tooLarge(size: 2 << 20, limit: 1 << 20, .requests))
        }
    }
}
