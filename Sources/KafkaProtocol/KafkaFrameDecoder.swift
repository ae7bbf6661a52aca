import NIOConcurrencyHelpers
import NIOCore

/// How a broker connection's incoming frames are to be read, shared between the frame decoder
/// (event loop) and the connection's request loop.
///
/// - Raw SASL tokens: after a SaslHandshake v0 the client sends raw tokens: the same INT32 size
///   prefix, but no request header, so a frame may be shorter than any request. The request loop
///   turns this on before answering the handshake and off before answering the exchange's last
///   token, so the decoder sees the change before the client's next bytes can arrive.
/// - A size cap before authentication (SASL listeners, `sasl-max-receive-bytes`, Kafka's
///   `sasl.server.max.receive.size`): until the connection has authenticated, a frame above it
///   closes the connection before its body is read. The request loop lifts it (`authenticated()`)
///   before the last token's answer leaves.
public final class RequestFraming: Sendable {
    struct State {
        var rawTokens = false
        var maxBytesBeforeAuthentication: Int?
    }

    private let state: NIOLockedValueBox<State>

    /// `maxBytesBeforeAuthentication`: the cap on frames until `authenticated()` (nil: none, as on
    /// listeners without SASL).
    public init(maxBytesBeforeAuthentication: Int? = nil) {
        state = NIOLockedValueBox(State(maxBytesBeforeAuthentication: maxBytesBeforeAuthentication))
    }

    /// The next frames are raw SASL tokens, not Kafka requests.
    public var expectsRawSaslTokens: Bool {
        get { state.withLockedValue { $0.rawTokens } }
        set { state.withLockedValue { $0.rawTokens = newValue } }
    }

    /// The cap on frames while the connection has not authenticated; nil once it has (or when
    /// there is none).
    public var maxBytesBeforeAuthentication: Int? {
        state.withLockedValue { $0.maxBytesBeforeAuthentication }
    }

    /// A re-authentication began (KIP-368): its tokens are capped again, as the first login's
    /// were, until `authenticated()`.
    public func capUntilAuthenticated(maxBytes: Int) {
        state.withLockedValue { $0.maxBytesBeforeAuthentication = maxBytes }
    }

    /// The connection has authenticated: frames up to the decoder's own limit from now on.
    public func authenticated() {
        state.withLockedValue { $0.maxBytesBeforeAuthentication = nil }
    }

    /// Both settings under one lock (once per frame).
    var snapshot: State { state.withLockedValue { $0 } }
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
        let framing = self.framing?.snapshot
        let minimum = framing?.rawTokens == true ? 0 : direction.minimumFrameBytes
        guard size >= minimum else { throw FrameError.tooSmall(size, direction) }
        if let cap = framing?.maxBytesBeforeAuthentication, cap < maxFrameBytes, Int(size) > cap {
            throw FrameError.tooLargeBeforeAuthentication(size: Int(size), limit: cap)
        }
        guard Int(size) <= maxFrameBytes else {
            throw FrameError.tooLarge(size: Int(size), limit: maxFrameBytes, direction)
        }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    public enum FrameError: Error, Equatable, CustomStringConvertible {
        case tooSmall(Int32, Direction)
        case tooLarge(size: Int, limit: Int, Direction)
        /// A request frame above `sasl-max-receive-bytes` on a connection that has not
        /// authenticated yet (SASL listeners).
        case tooLargeBeforeAuthentication(size: Int, limit: Int)

        public var description: String {
            switch self {
            case let .tooSmall(size, .requests): "request frame size \(size) is smaller than any request header"
            case let .tooSmall(size, .responses): "response frame size \(size) is smaller than any response header"
            case let .tooLarge(size, limit, .requests):
                "request frame of \(size) bytes exceeds max-request-bytes \(limit)"
            case let .tooLarge(size, limit, .responses):
                "response frame of \(size) bytes exceeds the client's max response size \(limit)"
            case let .tooLargeBeforeAuthentication(size, limit):
                "request frame of \(size) bytes before SASL authentication exceeds sasl-max-receive-bytes \(limit)"
            }
        }
    }
}
