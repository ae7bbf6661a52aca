import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
@testable import KafkaClient

/// A tiny in-process Kafka-protocol server for client tests: it answers ApiVersions from an
/// advertised table (with the KIP-511 v0 fallback) and hands every other request to a closure
/// that returns a canned reply.
final class FakeKafkaServer: Sendable {
    enum Reply: Sendable {
        /// Encode this response at the request's version.
        case respond(any KafkaMessage)
        /// Send this body as is (after a response header for the request's version).
        case raw(ByteBuffer)
        /// Never answer.
        case none
        /// Close the connection.
        case close
        /// Encode this response, and send it after `delay` (not part of a reversed batch).
        case delayed(any KafkaMessage, TimeAmount)
        /// Encode this response, send it after `after`, then close the connection (a broker
        /// after a failed SASL exchange).
        case respondAndClose(any KafkaMessage, after: TimeAmount = .zero)
    }

    /// Return nil to get the default behaviour (ApiVersions only; anything else: no reply).
    typealias Handler = @Sendable (RequestHeader, ByteBuffer) -> Reply?

    let advertised: [APIKey: ClosedRange<Int16>]
    let handler: Handler
    /// Buffer this many responses, then write them in reverse order (tests correlation by id).
    let reverseBatch: Int
    let received = NIOLockedValueBox<[RequestHeader]>([])
    private let children = NIOLockedValueBox<[any Channel]>([])
    private let serverChannel = NIOLockedValueBox<(any Channel)?>(nil)

    var port: Int { serverChannel.withLockedValue { $0?.localAddress?.port ?? 0 } }
    var address: BrokerAddress { BrokerAddress(host: "127.0.0.1", port: port) }

    static let defaultAdvertised: [APIKey: ClosedRange<Int16>] = [
        .apiVersions: 0...4, .metadata: 0...12, .listOffsets: 0...9, .findCoordinator: 0...6,
        .listGroups: 0...5, .describeGroups: 0...5, .offsetFetch: 0...9
    ]

    init(
        advertised: [APIKey: ClosedRange<Int16>] = FakeKafkaServer.defaultAdvertised, reverseBatch: Int = 1,
        handler: @escaping Handler = { _, _ in nil }
    ) {
        self.advertised = advertised
        self.handler = handler
        self.reverseBatch = reverseBatch
    }

    func start() async throws -> FakeKafkaServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                self.children.withLockedValue { $0.append(child) }
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 1 << 24)))
                    try child.pipeline.syncOperations.addHandler(FakeConnectionHandler(server: self))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        serverChannel.withLockedValue { $0 = channel }
        return self
    }

    /// Drops every client connection (as a crashed broker would).
    func dropConnections() async {
        for child in children.withLockedValue({ $0 }) { try? await child.close() }
    }

    func stop() async {
        await dropConnections()
        try? await serverChannel.withLockedValue({ $0 })?.close()
    }

    func requests(for api: APIKey) -> [RequestHeader] {
        received.withLockedValue { $0.filter { $0.apiKey == api.rawValue } }
    }

    /// The default ApiVersions behaviour: the advertised table, or the KIP-511 v0 error answer.
    func apiVersionsReply(_ header: RequestHeader) -> Reply {
        let range = advertised[.apiVersions] ?? 0...0
        if range.contains(header.apiVersion) {
            return .respond(
                ApiVersionsResponse(
                    errorCode: 0,
                    apiKeys: advertised.map {
                        .init(apiKey: $0.key.rawValue, minVersion: $0.value.lowerBound, maxVersion: $0.value.upperBound)
                    }))
        }
        var body = ByteBuffer()
        try! ApiVersionsResponse(
            errorCode: 35, apiKeys: [.init(apiKey: 18, minVersion: range.lowerBound, maxVersion: range.upperBound)]
        )
        .encode(into: &body, version: 0)
        return .raw(body)
    }
}

private final class FakeConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let server: FakeKafkaServer
    var pending: [ByteBuffer] = []

    init(server: FakeKafkaServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let header = try? RequestHeader.decode(from: &frame) else {
            context.close(promise: nil)
            return
        }
        server.received.withLockedValue { $0.append(header) }
        var reply = server.handler(header, frame)
        if reply == nil, header.apiKey == APIKey.apiVersions.rawValue {
            reply = server.apiVersionsReply(header)
        }
        let key = APIKey(rawValue: header.apiKey)!
        // ApiVersions error answers are always v0 layout; the header is always v0 for ApiVersions.
        let headerVersion = key.responseHeaderVersion(apiVersion: header.apiVersion)
        var out = context.channel.allocator.buffer(capacity: 64)
        out.writeInteger(Int32(0))
        ResponseHeader.encode(correlationId: header.correlationId, headerVersion: headerVersion, into: &out)
        switch reply ?? .none {
        case let .respond(message):
            try! message.encode(into: &out, version: header.apiVersion)
        case let .delayed(message, delay):
            try! message.encode(into: &out, version: header.apiVersion)
            out.setInteger(Int32(out.readableBytes - 4), at: 0)
            let channel = context.channel
            let frame = out
            context.eventLoop.scheduleTask(in: delay) { channel.writeAndFlush(frame, promise: nil) }
            return
        case let .respondAndClose(message, delay):
            try! message.encode(into: &out, version: header.apiVersion)
            out.setInteger(Int32(out.readableBytes - 4), at: 0)
            let channel = context.channel
            let frame = out
            context.eventLoop.scheduleTask(in: delay) {
                channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
            }
            return
        case var .raw(body):
            out.writeBuffer(&body)
        case .none:
            return
        case .close:
            context.close(promise: nil)
            return
        }
        out.setInteger(Int32(out.readableBytes - 4), at: 0)
        if key == .apiVersions {
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            return
        }
        pending.append(out)
        if pending.count >= server.reverseBatch {
            for response in pending.reversed() { context.write(wrapOutboundOut(response), promise: nil) }
            pending = []
            context.flush()
        }
    }
}
