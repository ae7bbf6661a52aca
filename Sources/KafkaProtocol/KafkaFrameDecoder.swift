import NIOConcurrencyHelpers
import NIOCore

/// How a broker connection's incoming frames are to be read, shared between the frame decoder
/// (event loop) and the connection's request loop. After a SaslHandshake v0 the client sends raw
/// SASL tokens: the same INT32 size prefix, but no request header, so a frame may be shorter
/// than any request. The request loop turns this on before answering the handshake and off
/// before answering the exchange's last token, so the decoder sees the change before the
/// client's next bytes can arrive.
public final class RequestFraming: Sendable {
    private let rawTokens = NIOLockedValueBox(false)

    public init() {}

    /// The next frames are raw SASL tokens, not Kafka requests.
    public var expectsRawSaslTokens: Bool {
        get { rawTokens.withLockedValue { $0 } }
        set { rawTokens.withLockedValue { $0 = newValue } }
    }
}

/// Splits a byte stream into Kafka frames: INT32 big-endian size, then `size` bytes. Used both by
/// the broker (request frames) and by the client (response frames).
/// A size below the smallest possible header or above `maxFrameBytes` is a protocol violation:
/// the decoder throws and the connection is closed (nothing is allocated for it).
public struct KafkaFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// Which side of the conversation the frames come from; sets the minimum size and the wording
    /// of errors.
    public enum Direction: Sendable {
        /// Frames a broker reads: at least api key + version + correlation id + client id length.
        case requests
        /// Frames a client reads: at least a correlation id.
        case responses

        var minimumFrameBytes: Int32 {
            switch self {
            case .requests: 10
            case .responses: 4
            }
        }
    }

    public let maxFrameBytes: Int
    public let direction: Direction
    /// Requests only: whether raw SASL tokens (any size from 0) are expected instead.
    public let framing: RequestFraming?

    public init(maxFrameBytes: Int, direction: Direction = .requests, framing: RequestFraming? = nil) {
        self.maxFrameBytes = maxFrameBytes
        self.direction = direction
        self.framing = framing
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        let minimum = framing?.expectsRawSaslTokens == true ? 0 : direction.minimumFrameBytes
        guard size >= minimum else { throw FrameError.tooSmall(size, direction) }
        guard Int(size) <= maxFrameBytes else { throw FrameError.tooLarge(size: Int(size), limit: maxFrameBytes, direction) }
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
        case tooSmall(Int32, Direction)
        case tooLarge(size: Int, limit: Int, Direction)

        public var description: String {
            switch self {
            case let .tooSmall(size, .requests): "request frame size \(size) is smaller than any request header"
            case let .tooSmall(size, .responses): "response frame size \(size) is smaller than any response header"
            case let .tooLarge(size, limit, .requests): "request frame of \(size) bytes exceeds max-request-bytes \(limit)"
            case let .tooLarge(size, limit, .responses): "response frame of \(size) bytes exceeds the client's max response size \(limit)"
            }
        }
    }
}
