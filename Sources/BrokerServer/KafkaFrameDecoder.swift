import NIOCore

/// Splits a byte stream into Kafka request frames: INT32 big-endian size, then `size` bytes.
/// A size below the smallest possible request header or above `maxFrameBytes` is a protocol
/// violation: the decoder throws and the connection is closed (nothing is allocated for it).
public struct KafkaFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// api key + version + correlation id + client id length.
    static let minimumFrameBytes: Int32 = 10
    public let maxFrameBytes: Int

    public init(maxFrameBytes: Int) { self.maxFrameBytes = maxFrameBytes }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        guard size >= Self.minimumFrameBytes else { throw FrameError.tooSmall(size) }
        guard Int(size) <= maxFrameBytes else { throw FrameError.tooLarge(size: Int(size), limit: maxFrameBytes) }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    public enum FrameError: Error, CustomStringConvertible {
        case tooSmall(Int32)
        case tooLarge(size: Int, limit: Int)

        public var description: String {
            switch self {
            case let .tooSmall(size): "request frame size \(size) is smaller than any request header"
            case let .tooLarge(size, limit): "request frame of \(size) bytes exceeds max-request-bytes \(limit)"
            }
        }
    }
}
