import Logging
import NIOCore
import NIOPosix

/// A TCP relay that holds every chunk of bytes for a fixed time before passing it on, in both
/// directions: a userspace stand-in for a WAN link (this kernel has no netem). Each accepted
/// connection gets its own connection to the target; bytes keep their order; a close on either
/// side is passed on once the bytes before it have been delivered.
///
/// Bandwidth is not shaped here (tbf/htb on a veth do that); the queue per direction is not
/// bounded, so a link of delay D carrying R bytes/s holds about D·R bytes.
public final class DelayLink: Sendable {
    public let delay: TimeAmount
    let targetHost: String
    let targetPort: Int
    let group: any EventLoopGroup
    let logger: Logger

    public init(
        targetHost: String, targetPort: Int, delay: TimeAmount,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        self.targetHost = targetHost
        self.targetPort = targetPort
        self.delay = delay
        self.group = group
        self.logger = logger
    }

    /// Binds the listening socket and returns its channel (closing it stops accepting; open
    /// relays finish on their own).
    public func bind(host: String, port: Int) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in self.relay(inbound) }
            .bind(host: host, port: port)
            .get()
    }

    /// Connects `inbound` to the target on the same event loop and joins the two channels with
    /// one delaying forwarder per direction.
    private func relay(_ inbound: any Channel) -> EventLoopFuture<Void> {
        let toTarget = DelayedForwarder(delay: delay)
        let toClient = DelayedForwarder(delay: delay)
        return ClientBootstrap(group: inbound.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { outbound in outbound.pipeline.addHandler(toClient) }
            .connect(host: targetHost, port: targetPort)
            .flatMap { outbound in
                toTarget.peer = outbound
                toClient.peer = inbound
                return inbound.pipeline.addHandler(toTarget).map { inbound.read() }
            }
            .flatMapErrorThrowing { error in
                self.logger.warning(
                    "delay link cannot reach its target",
                    metadata: ["target": "\(self.targetHost):\(self.targetPort)", "error": "\(error)"])
                inbound.close(promise: nil)
                throw error
            }
    }
}

/// Reads from its own channel and writes to `peer` `delay` later, in arrival order. Both
/// channels live on one event loop, so no locking is needed.
final class DelayedForwarder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    let delay: TimeAmount
    var peer: (any Channel)?
    private var queue: [(due: NIODeadline, bytes: ByteBuffer?)] = []  // nil bytes: the close
    private var drainScheduled = false

    init(delay: TimeAmount) { self.delay = delay }

    func channelActive(context: ChannelHandlerContext) {
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        enqueue(unwrapInboundIn(data), context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        enqueue(nil, context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func enqueue(_ bytes: ByteBuffer?, context: ChannelHandlerContext) {
        queue.append((NIODeadline.now() + delay, bytes))
        scheduleDrain(on: context.eventLoop)
    }

    private func scheduleDrain(on loop: any EventLoop) {
        guard !drainScheduled, let first = queue.first else { return }
        drainScheduled = true
        loop.scheduleTask(deadline: first.due) { [self] in
            drainScheduled = false
            drain(on: loop)
        }
    }

    private func drain(on loop: any EventLoop) {
        let now = NIODeadline.now()
        var wrote = false
        while let first = queue.first, first.due <= now {
            queue.removeFirst()
            guard let peer else { continue }
            if let bytes = first.bytes {
                peer.write(bytes, promise: nil)
                wrote = true
            } else {
                if wrote { peer.flush() }
                wrote = false
                peer.close(promise: nil)
            }
        }
        if wrote { peer?.flush() }
        scheduleDrain(on: loop)
    }
}
