import BrokerCore
import Foundation
import KafkaProtocol
import Logging
import LogStorage
import NIOCore
import NIOPosix
import Security
import ServiceLifecycle

/// The broker's network side: one or more listeners, one sequential request loop per connection (Kafka
/// answers a connection's requests in order), plus the flush and retention timers.
/// Runs as a swift-service-lifecycle Service: graceful shutdown closes the listener and every
/// connection, then flushes and closes the logs.
public final class BrokerService: Service, @unchecked Sendable {
    /// One listening socket. `secure` (e.g. TLS) adds handlers in front of the Kafka framing of
    /// each accepted connection; nil is PLAINTEXT.
    public struct Listener: Sendable {
        public var name: String
        public var host: String
        public var port: Int
        /// What Metadata tells clients of this listener; nil: the broker's advertised address.
        public var advertised: (host: String, port: Int32)?
        public var secure: (@Sendable (any Channel) throws -> Void)?
        /// Clients must authenticate with SASL before anything but ApiVersions.
        public var requiresSASL: Bool
        /// The principal of a connection's peer from its TLS client certificate ("User:alice"),
        /// asked once the first request has arrived (so the handshake is over).
        public var identify: (@Sendable (any Channel) async -> String?)?

        public init(
            name: String, host: String, port: Int, advertised: (host: String, port: Int32)? = nil,
            secure: (@Sendable (any Channel) throws -> Void)? = nil, requiresSASL: Bool = false,
            identify: (@Sendable (any Channel) async -> String?)? = nil
        ) {
            self.name = name
            self.host = host
            self.port = port
            self.advertised = advertised
            self.secure = secure
            self.requiresSASL = requiresSASL
            self.identify = identify
        }
    }

    public let broker: Broker
    let listeners: [Listener]
    let logger: Logger
    let group: MultiThreadedEventLoopGroup
    /// Called once the first listener is bound, with the address it is bound to.
    let onListening: @Sendable (SocketAddress) -> Void
    /// Called for every listener once bound.
    let onListenerBound: @Sendable (Listener, SocketAddress) -> Void

    private let connections = ConnectionRegistry()

    public convenience init(
        broker: Broker, host: String, port: Int, logger: Logger,
        group: MultiThreadedEventLoopGroup = .singleton,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.init(
            broker: broker, listeners: [Listener(name: "PLAINTEXT", host: host, port: port)], logger: logger,
            group: group, onListening: onListening)
    }

    public init(
        broker: Broker, listeners: [Listener], logger: Logger,
        group: MultiThreadedEventLoopGroup = .singleton,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in },
        onListenerBound: @escaping @Sendable (Listener, SocketAddress) -> Void = { _, _ in }
    ) {
        precondition(!listeners.isEmpty, "a broker needs at least one listener")
        self.broker = broker
        self.listeners = listeners
        self.logger = logger
        self.group = group
        self.onListening = onListening
        self.onListenerBound = onListenerBound
    }

    /// An accepted connection: its channel, and the framing state its frame decoder shares with
    /// the request loop (raw SASL tokens after a SaslHandshake v0).
    struct AcceptedConnection: Sendable {
        var channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        var framing: RequestFraming
    }

    private func bind(_ listener: Listener) async throws -> NIOAsyncChannel<AcceptedConnection, Never> {
        let maxFrame = broker.config.maxRequestBytes
        // Until a SASL listener's connection authenticates, frames are capped much lower.
        let maxFrameBeforeAuthentication = listener.requiresSASL ? broker.config.saslMaxReceiveBytes : nil
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .bind(host: listener.host, port: listener.port) { [connections] channel in
                channel.eventLoop.makeCompletedFuture {
                    do {
                        try listener.secure?(channel)
                        let framing = RequestFraming(maxBytesBeforeAuthentication: maxFrameBeforeAuthentication)
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: maxFrame, framing: framing)))
                        let accepted = try connections.accept {
                            AcceptedConnection(
                                channel: try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                                    wrappingChannelSynchronously: channel),
                                framing: framing)
                        }
                        // Nil: accepted while shutting down.
                        guard let accepted else { throw ChannelError.ioOnClosedChannel }
                        return accepted
                    } catch {
                        // On this (async) path NIO leaves a channel whose initializer failed open.
                        channel.close(promise: nil)
                        throw error
                    }
                }
            }
    }

    public func run() async throws {
        // Debug builds check that nothing below blocks on the cooperative pool.
        try await BlockingIOThreads.$checked.withValue(true) { try await serveListeners() }
    }

    private func serveListeners() async throws {
        var bound: [(Listener, NIOAsyncChannel<AcceptedConnection, Never>)] = []
        for listener in listeners {
            let server = try await bind(listener)
            bound.append((listener, server))
            onListenerBound(listener, server.channel.localAddress!)
        }
        let servers = bound
        onListening(servers[0].1.channel.localAddress!)
        let blockingIO = broker.blockingIO
        do {
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await self.maintenanceLoop() }
                    tasks.addTask { try await self.cleanerLoop() }
                    tasks.addTask { try await self.groupTimerLoop() }
                    for (listener, server) in servers {
                        let advertised = listener.advertised
                        let name = listener.name
                        let requiresSASL = listener.requiresSASL
                        let identify = listener.identify
                        tasks.addTask {
                            try await server.executeThenClose { inbound in
                                try await withThrowingDiscardingTaskGroup { connections in
                                    for try await connection in inbound {
                                        // The whole request loop of a connection runs on the
                                        // blocking-I/O executor: NIO resumes it there after each
                                        // read, so a request takes no thread hop of its own.
                                        connections.addTask(executorPreference: blockingIO) {
                                            await self.serve(
                                                connection, listener: name, advertised: advertised,
                                                requiresSASL: requiresSASL, identify: identify)
                                        }
                                    }
                                }
                            }
                        }
                    }
                    // The accept loops end when the listeners close (graceful shutdown).
                    _ = try await tasks.next()
                    tasks.cancelAll()
                }
            } onGracefulShutdown: {
                self.logger.info("shutting down: closing listeners and connections")
                // Parked JoinGroup/SyncGroup requests get NOT_COORDINATOR, so their connections end.
                self.broker.stopCoordinating()
                for (_, server) in servers { server.channel.close(promise: nil) }
                for channel in self.connections.beginDraining() { channel.close(promise: nil) }
            }
        } catch {
            await finishUnservedConnections()
            throw error
        }
        await finishUnservedConnections()
        let broker = self.broker
        await broker.blockingIO.run { broker.shutdown() }
        logger.info("broker stopped")
    }

    /// Connections accepted but never served: accepted while the listener was closing, or still in
    /// its stream when the accept loop stopped. Each is finished and closed here (ConnectionRegistry).
    private func finishUnservedConnections() async {
        for connection in connections.takeUnserved() {
            try? await connection.channel.executeThenClose { _, _ in }
        }
    }

    private func serve(
        _ accepted: AcceptedConnection, listener: String,
        advertised: (host: String, port: Int32)?, requiresSASL: Bool,
        identify: (@Sendable (any Channel) async -> String?)?
    ) async {
        // Nil: shutdown began first and finishes this connection itself.
        guard let id = connections.claim(accepted) else { return }
        let connection = accepted.channel
        let channel = connection.channel
        defer { connections.served(channel) }
        let context = ConnectionContext(
            id: id, remoteAddress: channel.remoteAddress?.description ?? "unknown",
            remoteHost: channel.remoteAddress?.ipAddress ?? "unknown",
            listenerName: listener, advertised: advertised,
            session: ConnectionSession(requiresSASL: requiresSASL, framing: accepted.framing))
        do {
            try await connection.executeThenClose { inbound, outbound in
                var identified = identify == nil
                for try await frame in inbound {
                    if !identified {
                        identified = true
                        if let name = await identify?(channel), let principal = KafkaPrincipal(parsing: name) {
                            context.session.identified(by: principal)
                            logger.info(
                                "client certificate identifies the peer",
                                metadata: [
                                    "connection": "\(id)", "principal": "\(principal)"
                                ])
                        }
                    }
                    switch await broker.handle(frame: frame, connection: context) {
                    case let .respond(response):
                        try await outbound.write(response)
                    case .noResponse:
                        continue
                    case let .closeConnection(reason):
                        logger.warning(
                            "closing connection",
                            metadata: [
                                "connection": "\(id)", "remote": "\(context.remoteAddress)", "reason": "\(reason)"
                            ])
                        return
                    case let .respondAndClose(response, reason):
                        try await outbound.write(response)
                        logger.warning(
                            "closing connection",
                            metadata: [
                                "connection": "\(id)", "remote": "\(context.remoteAddress)", "reason": "\(reason)"
                            ])
                        return
                    }
                }
            }
        } catch is ChannelError {
            // Closed by us (shutdown) or already gone: nothing to report.
        } catch is IOError {
            // The peer reset or dropped the connection.
            logger.debug("connection lost", metadata: ["connection": "\(id)", "remote": "\(context.remoteAddress)"])
        } catch {
            // A protocol violation found by the frame decoder (e.g. an oversized frame).
            if case .tooLargeBeforeAuthentication? = error as? KafkaFrameDecoder.FrameError {
                let broker = self.broker, reason = "\(error)"
                await broker.blockingIO.run { broker.refusedFrameBeforeAuthentication(context, reason: reason) }
            }
            logger.warning(
                "closing connection",
                metadata: ["connection": "\(id)", "remote": "\(context.remoteAddress)", "reason": "\(error)"])
        }
    }

    /// Group session and rebalance timeouts are enforced on this 100 ms beat (on the blocking-I/O
    /// executor: an expiry may persist group records).
    private func groupTimerLoop() async throws {
        let broker = self.broker
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(100))
            await broker.blockingIO.run { broker.tickGroups() }
        }
    }

    /// Interval flushes and retention checks, on timers; the fsyncs and deletions run on the
    /// blocking-I/O executor, the waiting here.
    private func maintenanceLoop() async throws {
        let broker = self.broker
        let flushEvery: Duration?
        switch broker.config.log.flushPolicy {
        case .everyBatch: flushEvery = nil
        case let .interval(milliseconds): flushEvery = .milliseconds(max(1, milliseconds))
        }
        let retentionEvery = Duration.milliseconds(max(1, broker.config.retentionCheckIntervalMs))
        let clock = ContinuousClock()
        var nextFlush = flushEvery.map { clock.now.advanced(by: $0) }
        var nextRetention = clock.now.advanced(by: retentionEvery)
        while !Task.isCancelled {
            try await Task.sleep(until: min(nextFlush ?? nextRetention, nextRetention), clock: clock)
            if let flushEvery, let due = nextFlush, clock.now >= due {
                await broker.blockingIO.run { broker.flushAll() }
                nextFlush = clock.now.advanced(by: flushEvery)
            }
            if clock.now >= nextRetention {
                let deleted = await broker.blockingIO.run { broker.enforceRetention() }
                if deleted > 0 { logger.info("retention deleted segments", metadata: ["count": "\(deleted)"]) }
                nextRetention = clock.now.advanced(by: retentionEvery)
            }
        }
    }

    /// The log cleaner: compacts the logs of compacted topics every `log-cleaner-interval-ms`.
    /// A pass reads and rewrites whole segments, so it runs on its own thread rather than on the
    /// cooperative pool or the maintenance loop (interval flushes must not wait behind it).
    private func cleanerLoop() async throws {
        let every = Duration.milliseconds(max(1, broker.config.logCleanerIntervalMs))
        let broker = self.broker
        while !Task.isCancelled {
            try await Task.sleep(for: every)
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                Self.cleanerQueue.async {
                    broker.compactLogs()
                    done.resume()
                }
            }
        }
    }

    private static let cleanerQueue = DispatchQueue(label: "strait.log-cleaner")
}
