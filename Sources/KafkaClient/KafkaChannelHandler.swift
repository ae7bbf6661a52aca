import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore

/// A request on its way to the broker: the full frame (size, header, body) is already encoded by
/// the caller, who also chose the correlation id.
struct OutgoingRequest: Sendable {
    var correlationId: Int32
    var apiKey: APIKey
    var apiVersion: Int16
    var frame: ByteBuffer
    var timeout: TimeAmount
    /// Completed with the response body (the response header already read), or, when
    /// `expectsResponse` is false, with an empty buffer once the frame is written.
    var promise: EventLoopPromise<ByteBuffer>
    /// False for requests the broker never answers (Produce with acks=0): nothing is registered
    /// as pending, and the request completes when its frame has been written to the socket.
    var expectsResponse: Bool = true
    /// SaslHandshake/SaslAuthenticate of a (re-)authentication: passes a closed
    /// `ReauthenticationGate`.
    var isAuthentication: Bool = false
}

/// Outbound user events of a KIP-368 re-authentication. While the gate is held, requests other
/// than the exchange's own wait in the handler, in order (a broker closes the connection for any
/// other request between SaslHandshake and the last SaslAuthenticate); requests already written
/// stay in flight and are answered first, as the broker serves a connection in order.
enum ReauthenticationGate: Sendable {
    /// Hold every request written from now on, except authentication ones.
    case hold
    /// The exchange succeeded: write the held requests, in the order they were written.
    case release
    /// The exchange failed: close the connection; held and pending requests fail with this reason.
    case fail(reason: String)
}

/// Outbound user event: the caller gave up on a request (task cancelled).
struct CancelRequest: Sendable {
    var correlationId: Int32
}

/// The thin NIO side of a client connection: performs what `ConnectionStateMachine` decides.
/// Inbound: response frames (from `KafkaFrameDecoder(direction: .responses)`).
/// Outbound: `OutgoingRequest`s.
final class KafkaChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = OutgoingRequest
    typealias OutboundOut = ByteBuffer

    struct Waiter {
        var promise: EventLoopPromise<ByteBuffer>
    }

    private var state = ConnectionStateMachine<Waiter>()
    private let address: BrokerAddress
    /// Set when the connection is closed on purpose, so that waiters learn why; the first
    /// reason is also kept in `shared`, for requests written after the close.
    private var closeReason: String? {
        didSet {
            guard let closeReason else { return }
            shared.withLockedValue { state in
                if state.closeReason == nil { state.closeReason = closeReason }
            }
        }
    }
    private let shared: NIOLockedValueBox<ConnectionShared>
    /// A re-authentication is under way: requests written meanwhile wait in `held`.
    private var holding = false
    private var held: [(request: OutgoingRequest, promise: EventLoopPromise<Void>?)] = []

    /// Requests waiting for a re-authentication to end (for tests).
    var heldCount: Int { held.count }

    init(address: BrokerAddress, shared: NIOLockedValueBox<ConnectionShared> = NIOLockedValueBox(ConnectionShared())) {
        self.address = address
        self.shared = shared
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if holding && !request.isAuthentication && state.isOpen {
            held.append((request, promise))
            return
        }
        send(context: context, request, promise: promise)
    }

    private func send(context: ChannelHandlerContext, _ request: OutgoingRequest, promise: EventLoopPromise<Void>?) {
        if !request.expectsResponse {
            writeWithoutResponse(context: context, request, promise: promise)
            return
        }
        let pending = ConnectionStateMachine<Waiter>.Pending(
            apiKey: request.apiKey.rawValue, apiVersion: request.apiVersion,
            responseHeaderVersion: request.apiKey.responseHeaderVersion(apiVersion: request.apiVersion),
            waiter: Waiter(promise: request.promise))
        switch state.sendRequested(correlationId: request.correlationId, pending) {
        case .write:
            let id = request.correlationId
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let scheduled = context.eventLoop.scheduleTask(in: request.timeout) {
                loopBound.value.timedOut(correlationId: id, api: request.apiKey, after: request.timeout)
            }
            request.promise.futureResult.whenComplete { _ in scheduled.cancel() }
            context.write(wrapOutboundOut(request.frame), promise: promise)
        case let .fail(waiter, failure):
            waiter.promise.fail(error(for: failure, api: request.apiKey, timeout: request.timeout))
            promise?.succeed()
        }
    }

    /// A request without a response: complete it on write. On a closed connection it fails
    /// like any other request.
    private func writeWithoutResponse(
        context: ChannelHandlerContext, _ request: OutgoingRequest, promise: EventLoopPromise<Void>?
    ) {
        guard state.isOpen else {
            request.promise.fail(KafkaClientError.connectionClosed(address, reason: closeReason ?? "closed"))
            promise?.succeed()
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        let address = self.address
        written.futureResult.whenComplete { result in
            switch result {
            case .success: request.promise.succeed(ByteBuffer())
            case let .failure(error):
                request.promise.fail(KafkaClientError.connectionClosed(address, reason: describe(error)))
            }
        }
        if let promise { written.futureResult.cascade(to: promise) }
        context.write(wrapOutboundOut(request.frame), promise: written)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if let cancel = event as? CancelRequest {
            if let index = held.firstIndex(where: { $0.request.correlationId == cancel.correlationId }) {
                // Never written: nothing to drop later.
                let (request, writePromise) = held.remove(at: index)
                request.promise.fail(KafkaClientError.cancelled)
                writePromise?.succeed()
            } else if case let .fail(waiter, _) = state.requestCancelled(correlationId: cancel.correlationId) {
                waiter.promise.fail(KafkaClientError.cancelled)
            }
            promise?.succeed()
        } else if let gate = event as? ReauthenticationGate {
            switch gate {
            case .hold:
                guard state.isOpen else {
                    promise?.fail(KafkaClientError.connectionClosed(address, reason: closeReason ?? "closed"))
                    return
                }
                holding = true
            case .release:
                holding = false
                let waiting = held
                held = []
                for (request, writePromise) in waiting { send(context: context, request, promise: writePromise) }
                if !waiting.isEmpty { context.flush() }
            case let .fail(reason):
                holding = false
                close(context: context, reason: reason)
            }
            promise?.succeed()
        } else {
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if closeReason == nil { closeReason = "closed by the client" }
        context.close(mode: mode, promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let correlationId = frame.getInteger(at: frame.readerIndex, as: Int32.self) else {
            close(context: context, reason: "response frame without a correlation id")
            return
        }
        switch state.responseReceived(correlationId: correlationId) {
        case let .deliver(request):
            do {
                _ = try ResponseHeader.decode(from: &frame, headerVersion: request.responseHeaderVersion)
                if holding, request.apiKey == APIKey.saslAuthenticate.rawValue, closeReason == nil,
                    let refusal = SaslAuthenticateResponse.refusal(in: frame, version: request.apiVersion)
                {
                    // A broker closes the connection right after refusing a token: the requests
                    // still pending must learn why, not just that the broker closed it.
                    closeReason = "\(KafkaConnection.reauthenticationFailurePrefix)\(refusal)"
                }
                request.waiter.promise.succeed(frame)
            } catch {
                let api = APIKey(rawValue: request.apiKey).map(\.name) ?? "API \(request.apiKey)"
                request.waiter.promise.fail(
                    KafkaClientError.protocolViolation(address, "bad \(api) response header: \(error)"))
            }
        case .discard:
            return
        case let .closeConnection(reason):
            close(context: context, reason: reason)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        close(context: context, reason: "\(error)")
    }

    func channelInactive(context: ChannelHandlerContext) {
        if closeReason == nil { closeReason = "closed by the broker" }
        failAll(reason: closeReason ?? "closed by the broker")
        context.fireChannelInactive()
    }

    private func close(context: ChannelHandlerContext, reason: String) {
        if closeReason == nil { closeReason = reason }
        failAll(reason: reason)
        context.close(promise: nil)
    }

    private func failAll(reason: String) {
        if case let .failAll(waiters, _) = state.connectionClosed(reason: reason) {
            for waiter in waiters {
                waiter.promise.fail(KafkaClientError.connectionClosed(address, reason: reason))
            }
        }
        // Held requests were never written; they fail the same way, in the order they came.
        let waiting = held
        held = []
        holding = false
        for (request, writePromise) in waiting {
            request.promise.fail(KafkaClientError.connectionClosed(address, reason: reason))
            writePromise?.succeed()
        }
    }

    private func timedOut(correlationId: Int32, api: APIKey, after timeout: TimeAmount) {
        if case let .fail(waiter, failure) = state.requestTimedOut(correlationId: correlationId) {
            waiter.promise.fail(error(for: failure, api: api, timeout: timeout))
        }
    }

    private func error(for failure: ConnectionStateMachine<Waiter>.Failure, api: APIKey, timeout: TimeAmount)
        -> KafkaClientError
    {
        switch failure {
        case let .closed(reason):
            return .connectionClosed(address, reason: reason)
        case .timedOut:
            return .requestTimedOut(address, api: api, after: .nanoseconds(timeout.nanoseconds))
        case .cancelled:
            return .cancelled
        case let .duplicateCorrelationId(id):
            return .protocolViolation(address, "correlation id \(id) is already in flight")
        }
    }
}
