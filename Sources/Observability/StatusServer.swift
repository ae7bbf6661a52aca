import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Replicator
import ServiceLifecycle

/// The replicator's HTTP endpoint: `GET /metrics` (Prometheus text format) and `GET /status`
/// (JSON, read by `strait status`). Numbers come from the links' `LinkStatus` at request time.
///
/// Metric names (labels: link, topic, partition — one series per mirrored partition):
/// - `strait_link_lag_records`: source end offset − mirrored offset
/// - `strait_link_lag_seconds`: age of the oldest record not yet mirrored (0 when caught up)
/// - `strait_link_records_total`, `strait_link_bytes_total`: mirrored so far (this process)
/// - `strait_link_gap_offsets_total`, `strait_link_duplicates_total`, `strait_link_errors_total`
/// - `strait_link_checkpoint_age_seconds` (label: link)
public final class StatusServer: Service, Sendable {
    let host: String
    let port: Int
    let links: [LinkStatus]
    let registry = PrometheusCollectorRegistry()
    let logger: Logger
    let onListening: @Sendable (SocketAddress) -> Void

    public init(
        host: String, port: Int, links: [LinkStatus], logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.links = links
        self.logger = logger
        self.onListening = onListening
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Every link's snapshot, as served on /status.
    public func snapshots() -> [LinkStatus.Snapshot] { links.map { $0.snapshot(now: Self.now()) } }

    /// The Prometheus exposition of the current numbers.
    public func metricsText() -> [UInt8] {
        let now = Self.now()
        for snapshot in snapshots() {
            let link = "\(snapshot.source)->\(snapshot.target)"
            registry.makeGauge(
                name: "strait_link_checkpoint_age_seconds", labels: [("link", link)],
                help: "Seconds since the link's last checkpoint pass"
            )
            .set(Double(snapshot.checkpointAgeMs ?? -1000) / 1000)
            registry.makeGauge(
                name: "strait_link_task_errors_total", labels: [("link", link)],
                help: "Failures of the link's own tasks: topic discovery, config sync, checkpoints (retried)"
            )
            .set(Double(snapshot.taskErrors))
            for partition in snapshot.partitions {
                let labels = [("link", link), ("topic", partition.sourceTopic), ("partition", "\(partition.partition)")]
                func gauge(_ name: String, _ help: String, _ value: Double) {
                    registry.makeGauge(name: name, labels: labels, help: help).set(value)
                }
                gauge(
                    "strait_link_lag_records", "Source end offset minus the next offset to mirror",
                    Double(partition.lagRecords))
                gauge(
                    "strait_link_lag_seconds", "Age of the oldest record not yet mirrored",
                    Double(LinkHealth.lagMs(partition, now: now) ?? 0) / 1000)
                gauge(
                    "strait_link_records_total", "Records the target accepted from this process",
                    Double(partition.records))
                gauge(
                    "strait_link_bytes_total", "Record batch bytes the target accepted from this process",
                    Double(partition.bytes))
                gauge(
                    "strait_link_gap_offsets_total", "Offsets deleted at the source before they were mirrored",
                    Double(partition.gapOffsets))
                gauge(
                    "strait_link_duplicates_total", "Records written twice to the target (translate mode restarts)",
                    Double(partition.duplicates))
                gauge("strait_link_errors_total", "Failed fetches or writes (retried)", Double(partition.errors))
            }
        }
        return registry.emitToBuffer()
    }

    /// The endpoint could not listen (the address is taken, or not this machine's).
    public struct BindError: Error, CustomStringConvertible {
        public var address: String
        public var reason: String
        public var description: String {
            "the status endpoint cannot listen on \(address): \(reason) (set another `status:` address in the topology)"
        }
    }

    public func run() async throws {
        let server: any Channel
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMap {
                        channel.pipeline.addHandler(StatusHTTPHandler(server: self))
                    }
                }
                .bind(host: host, port: port)
                .get()
        } catch let error as IOError {
            throw BindError(
                address: "\(host):\(port)",
                reason: error.errnoCode == EADDRINUSE ? "address already in use" : "\(error)")
        }
        onListening(server.localAddress!)
        logger.info("status endpoint listening", metadata: ["address": "\(host):\(server.localAddress?.port ?? port)"])
        try await withGracefulShutdownHandler {
            try await server.closeFuture.get()
        } onGracefulShutdown: {
            server.close(promise: nil)
        }
    }
}

/// Answers GET /metrics and GET /status; anything else gets 404.
final class StatusHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: StatusServer

    init(server: StatusServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case let .head(request) = unwrapInboundIn(data) else { return }
        let (status, contentType, body): (HTTPResponseStatus, String, [UInt8])
        switch (request.method, request.uri.split(separator: "?").first.map(String.init) ?? "") {
        case (.GET, "/metrics"):
            (status, contentType, body) = (.ok, "text/plain; version=0.0.4", server.metricsText())
        case (.GET, "/status"):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = (try? encoder.encode(server.snapshots())) ?? Data("[]".utf8)
            (status, contentType, body) = (.ok, "application/json", Array(json))
        default:
            (status, contentType, body) = (.notFound, "text/plain", Array("try /metrics or /status\n".utf8))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        headers.add(name: "Connection", value: "close")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
