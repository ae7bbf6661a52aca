#if canImport(Darwin)
    import Darwin
#elseif canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
import KafkaProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Security
import TLS

/// One TCP connection to one broker.
///
/// Requests are pipelined: many may be in flight at once, each matched to its response by
/// correlation id. Each request has a timeout; when the connection drops, every pending request
/// fails with `connectionClosed`. ApiVersions is negotiated once, when connecting, and
/// `send(_:)` picks the highest version both sides support. With SASL, a session lifetime from
/// the broker (KIP-368) is renewed on the connection before it ends (KafkaConnection+SASL.swift).
public final class KafkaConnection: Sendable {
    public let address: BrokerAddress
    /// The broker's node id when known (nil for a bootstrap connection).
    public let nodeId: Int32?
    /// What the broker advertised in ApiVersions.
    public let brokerVersions: BrokerAPIVersions
    public let configuration: KafkaClientConfiguration
    let channel: any Channel
    let shared: NIOLockedValueBox<ConnectionShared>
    let logger: Logger
    /// KIP-368 re-authentication: the session's lifetime, the next renewal, how many so far.
    let reauthentication = NIOLockedValueBox(ReauthenticationState())

    private init(
        address: BrokerAddress, nodeId: Int32?, brokerVersions: BrokerAPIVersions,
        configuration: KafkaClientConfiguration, channel: any Channel,
        shared: NIOLockedValueBox<ConnectionShared>, logger: Logger
    ) {
        self.address = address
        self.nodeId = nodeId
        self.brokerVersions = brokerVersions
        self.configuration = configuration
        self.channel = channel
        self.shared = shared
        self.logger = logger
    }

    /// Opens a connection and negotiates API versions.
    public static func connect(
        to address: BrokerAddress, nodeId: Int32? = nil,
        configuration: KafkaClientConfiguration = KafkaClientConfiguration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "strait.kafka-client")
    ) async throws -> KafkaConnection {
        try configuration.checkSecurity()
        var logger = logger
        logger[metadataKey: "broker"] = "\(address)"
        let channel: any Channel
        let shared = NIOLockedValueBox(ConnectionShared())
        do {
            var bootstrap = ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(.nanoseconds(configuration.connectTimeout.nanosecondsClamped))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
            // Set before connecting, so that the TCP window scale is negotiated for them.
            if let bytes = configuration.socketSendBufferBytes {
                bootstrap = bootstrap.channelOption(
                    .socketOption(.so_sndbuf), value: SocketOptionValue(clamping: bytes))
            }
            if let bytes = configuration.socketReceiveBufferBytes {
                bootstrap = bootstrap.channelOption(
                    .socketOption(.so_rcvbuf), value: SocketOptionValue(clamping: bytes))
            }
            channel =
                try await bootstrap
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try Self.addHandlers(
                            to: channel, address: address, configuration: configuration, shared: shared)
                    }
                }
                .connect(host: address.host, port: address.port)
                .get()
        } catch {
            throw KafkaClientError.connectionFailed(address, reason: describe(error))
        }
        do {
            let versions = try await negotiate(
                channel: channel, address: address, configuration: configuration, shared: shared)
            var login: SaslLogin?
            if configuration.securityProtocol.usesSASL, let credentials = configuration.sasl {
                login = try await authenticate(
                    credentials, versions: versions, channel: channel, address: address,
                    configuration: configuration, shared: shared,
                    timeout: configuration.connectTimeout)
            }
            logger.debug("connected", metadata: ["apis": "\(versions.ranges.count)"])
            let connection = KafkaConnection(
                address: address, nodeId: nodeId, brokerVersions: versions,
                configuration: configuration, channel: channel,
                shared: shared, logger: logger)
            if let login { connection.startSession(login) }
            return connection
        } catch {
            try? await channel.close()
            if let clientError = error as? KafkaClientError, case .noCommonVersion = clientError { throw clientError }
            if let clientError = error as? KafkaClientError, case .authenticationFailed = clientError {
                throw clientError
            }
            throw KafkaClientError.connectionFailed(address, reason: "ApiVersions: \(describe(error))")
        }
    }

    /// Installs the client pipeline (TLS when configured, framing, request correlation) on a
    /// connected channel. Exposed to the module so tests can run it on an `EmbeddedChannel`.
    static func addHandlers(
        to channel: any Channel, address: BrokerAddress, configuration: KafkaClientConfiguration,
        shared: NIOLockedValueBox<ConnectionShared> = NIOLockedValueBox(ConnectionShared())
    ) throws {
        let sync = channel.pipeline.syncOperations
        if configuration.securityProtocol.usesTLS, let tls = configuration.tls {
            try sync.addHandler(try OpenSSLHandler(tlsContext: tls, serverHostname: address.host))
        }
        try sync.addHandler(
            ByteToMessageHandler(
                KafkaFrameDecoder(maxFrameBytes: configuration.maxResponseBytes, direction: .responses)))
        try sync.addHandler(KafkaChannelHandler(address: address, shared: shared))
    }

    private static func negotiate(
        channel: any Channel, address: BrokerAddress,
        configuration: KafkaClientConfiguration,
        shared: NIOLockedValueBox<ConnectionShared>
    ) async throws -> BrokerAPIVersions {
        guard let clientRange = configuration.supportedVersions[.apiVersions] else {
            throw KafkaClientError.noCommonVersion(address, api: .apiVersions, client: 0...0, broker: nil)
        }
        var version = clientRange.upperBound
        let request = ApiVersionsRequest(
            clientSoftwareName: configuration.softwareName,
            clientSoftwareVersion: configuration.softwareVersion)
        // At most one retry per lower version; the loop ends because each retry lowers `version`.
        while true {
            let body = try await sendRaw(
                request, version: version, channel: channel, address: address,
                configuration: configuration, shared: shared,
                timeout: configuration.connectTimeout)
            switch try ApiVersionsNegotiation.step(body: body, sentVersion: version, clientRange: clientRange) {
            case let .done(versions):
                return versions
            case let .retry(next):
                version = next
            case .failed(.unsupportedVersion):
                throw KafkaClientError.noCommonVersion(address, api: .apiVersions, client: clientRange, broker: nil)
            case let .failed(code):
                throw KafkaClientError.broker(code, message: nil, context: "ApiVersions")
            }
        }
    }

    // MARK: Sending

    public var isActive: Bool { channel.isActive }

    /// The highest version of `api` both this client (optionally narrowed to `within`) and the
    /// broker support.
    public func version(for api: APIKey, within required: ClosedRange<Int16>? = nil) throws -> Int16 {
        guard var client = configuration.supportedVersions[api] else {
            throw KafkaClientError.noCommonVersion(
                address, api: api, client: required ?? 0...0, broker: brokerVersions[api])
        }
        if let required {
            let low = max(client.lowerBound, required.lowerBound), high = min(client.upperBound, required.upperBound)
            guard low <= high else {
                throw KafkaClientError.noCommonVersion(address, api: api, client: required, broker: brokerVersions[api])
            }
            client = low...high
        }
        guard let version = brokerVersions.highestCommonVersion(api, client: client) else {
            throw KafkaClientError.noCommonVersion(address, api: api, client: client, broker: brokerVersions[api])
        }
        return version
    }

    /// Sends `request` at the highest version both sides support; returns the response and that version.
    public func send<R: KafkaRequestMessage>(_ request: R, timeout: Duration? = nil) async throws -> (
        response: R.Response, version: Int16
    ) {
        let version = try version(for: R.apiKey)
        return (try await send(request, version: version, timeout: timeout), version)
    }

    /// Sends `request` at `version` and waits for its response (or the timeout, default
    /// `configuration.requestTimeout`).
    public func send<R: KafkaRequestMessage>(_ request: R, version: Int16, timeout: Duration? = nil) async throws
        -> R.Response
    {
        try Task.checkCancellation()
        return try await enqueue(request, version: version, timeout: timeout).response()
    }

    /// Writes `request` now and returns without waiting for the response: the way to keep
    /// several requests in flight on this connection (pipelining).
    ///
    /// Frames reach the socket in the order of `enqueue` calls (the correlation id is taken and
    /// the write is queued under one lock), and Kafka handles a connection's requests one at a
    /// time in arrival order, so several Produce requests enqueued to one partition are appended
    /// in that order. Await each `PendingResponse.response()` (in any order); a pending response
    /// never awaited is still completed, by its response, its timeout or the connection closing.
    public func enqueue<R: KafkaRequestMessage>(_ request: R, version: Int16, timeout: Duration? = nil) throws
        -> PendingResponse<R>
    {
        let (correlationId, future) = try Self.write(
            request, version: version, expectsResponse: true, channel: channel,
            address: address, configuration: configuration, shared: shared,
            timeout: timeout ?? configuration.requestTimeout)
        return PendingResponse(
            version: version, correlationId: correlationId, future: future, channel: channel, address: address)
    }

    /// Sends a request the broker does not answer (Produce with acks=0) and returns once its
    /// frame has been written to the socket. Ordering with `enqueue`d requests is kept.
    public func sendWithoutResponse<R: KafkaRequestMessage>(_ request: R, version: Int16) async throws {
        try Task.checkCancellation()
        try await writeWithoutResponse(request, version: version).get()
    }

    /// Queues a request the broker does not answer; the future completes once it is written.
    func writeWithoutResponse<R: KafkaRequestMessage>(_ request: R, version: Int16) throws -> EventLoopFuture<Void> {
        let (_, future) = try Self.write(
            request, version: version, expectsResponse: false, channel: channel,
            address: address, configuration: configuration, shared: shared,
            timeout: configuration.requestTimeout)
        return future.map { _ in () }
    }

    /// Encodes and sends one request; returns the response body (header already read).
    /// `authentication`: a SaslHandshake/SaslAuthenticate that passes a re-authentication's gate.
    static func sendRaw<R: KafkaRequestMessage>(
        _ request: R, version: Int16, channel: any Channel, address: BrokerAddress,
        configuration: KafkaClientConfiguration, shared: NIOLockedValueBox<ConnectionShared>, timeout: Duration,
        authentication: Bool = false
    ) async throws -> ByteBuffer {
        try Task.checkCancellation()
        let (correlationId, future) = try write(
            request, version: version, expectsResponse: true, channel: channel, address: address,
            configuration: configuration, shared: shared, timeout: timeout,
            authentication: authentication)
        return try await awaitResponse(future, correlationId: correlationId, channel: channel)
    }

    static func awaitResponse(_ future: EventLoopFuture<ByteBuffer>, correlationId: Int32, channel: any Channel)
        async throws -> ByteBuffer
    {
        try await withTaskCancellationHandler {
            try await future.get()
        } onCancel: {
            channel.triggerUserOutboundEvent(CancelRequest(correlationId: correlationId), promise: nil)
        }
    }

    /// Encodes one request and queues its frame. The correlation id is taken and the write
    /// submitted under the connection's shared lock, so frames go out in the order of the calls.
    private static func write<R: KafkaRequestMessage>(
        _ request: R, version: Int16, expectsResponse: Bool, channel: any Channel, address: BrokerAddress,
        configuration: KafkaClientConfiguration, shared: NIOLockedValueBox<ConnectionShared>, timeout: Duration,
        authentication: Bool = false
    ) throws -> (correlationId: Int32, future: EventLoopFuture<ByteBuffer>) {
        var body = channel.allocator.buffer(capacity: 128)
        try request.encode(into: &body, version: version)
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let correlationId = shared.withLockedValue { state in
            let id = state.nextCorrelationId
            state.nextCorrelationId = id == Int32.max ? 0 : id + 1
            var frame = channel.allocator.buffer(capacity: body.readableBytes + 64)
            frame.writeInteger(Int32(0))
            RequestHeader(apiKey: R.apiKey, apiVersion: version, correlationId: id, clientId: configuration.clientId)
                .encode(into: &frame)
            frame.writeImmutableBuffer(body)
            frame.setInteger(Int32(frame.readableBytes - 4), at: frame.readerIndex)
            let outgoing = OutgoingRequest(
                correlationId: id, apiKey: R.apiKey, apiVersion: version, frame: frame,
                timeout: .nanoseconds(timeout.nanosecondsClamped), promise: promise,
                expectsResponse: expectsResponse, isAuthentication: authentication)
            channel.writeAndFlush(outgoing).whenFailure { [shared] error in
                // Written after the connection closed (e.g. a TLS handshake that failed before the
                // first request): the reason it closed says more than the failed write.
                let reason = shared.withLockedValue(\.closeReason) ?? describe(error)
                promise.fail(KafkaClientError.connectionClosed(address, reason: reason))
            }
            return id
        }
        return (correlationId, promise.futureResult)
    }

    /// Closes the connection; pending requests fail with `connectionClosed`.
    public func close() async {
        try? await channel.close()
    }
}

/// What the request writers and the channel handler of one connection share, under one lock:
/// the next correlation id, and once the connection has closed, why. A request written after
/// the close (say, a TLS handshake that failed before the first request went out) then fails
/// with that reason ("certificate verify failed") rather than a bare "connection closed".
struct ConnectionShared: Sendable {
    var nextCorrelationId: Int32 = 0
    var closeReason: String?
}

/// A request written with `KafkaConnection.enqueue`, whose response has not been awaited yet.
public struct PendingResponse<Request: KafkaRequestMessage>: Sendable {
    /// The version the request was sent at.
    public let version: Int16
    public let correlationId: Int32
    let future: EventLoopFuture<ByteBuffer>
    let channel: any Channel
    let address: BrokerAddress

    /// Waits for and decodes the response. Cancelling the waiting task gives the request up
    /// (a late response is then dropped).
    public func response() async throws -> Request.Response {
        var body = try await KafkaConnection.awaitResponse(future, correlationId: correlationId, channel: channel)
        do {
            return try Request.Response(from: &body, version: version)
        } catch {
            throw KafkaClientError.malformedResponse(address, api: Request.apiKey, version: version, reason: "\(error)")
        }
    }
}

extension Duration {
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        if seconds >= Int64.max / 1_000_000_000 { return Int64.max }
        if seconds < 0 { return 0 }
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// A readable reason for an I/O error ("connection refused" rather than a type dump).
func describe(_ error: any Error) -> String {
    if let clientError = error as? KafkaClientError { return clientError.description }
    if let io = error as? IOError {
        return String(cString: strerror(io.errnoCode))
    }
    if let connection = error as? NIOConnectionError {
        if let first = connection.connectionErrors.first {
            return describe(first.error)
        }
        if let dns = connection.dnsAError ?? connection.dnsAAAAError {
            return "cannot resolve \(connection.host): \(dns)"
        }
        return "cannot resolve \(connection.host)"
    }
    if let channelError = error as? ChannelError {
        switch channelError {
        case .connectTimeout(let amount): return "connect timed out after \(Duration.nanoseconds(amount.nanoseconds))"
        case .ioOnClosedChannel, .alreadyClosed, .eof: return "connection closed"
        default: return "\(channelError)"
        }
    }
    return "\(error)"
}
