import BrokerCore
import BrokerServer
import Foundation
import KafkaClient
import KafkaRecords
import Logging
import NIOCore
import Replicator
import ServiceLifecycle
@testable import Topology
import XCTest
import KafkaProtocol

/// A link between two in-process brokers: what it writes and what its status says.
final class LinkServiceTests: XCTestCase {
    private var groups: [ServiceGroup] = []
    private var tasks: [Task<Void, any Error>] = []
    private var logger: Logger = {
        var logger = Logger(label: "test.link")
        logger.logLevel = .critical
        return logger
    }()

    private func startBroker(_ configure: (inout BrokerConfig) -> Void = { _ in }) async throws -> String {
        var config = BrokerConfig()
        config.advertisedHost = "127.0.0.1"
        config.defaultPartitions = 2
        configure(&config)
        let broker = try Broker(config: config, storage: InMemoryBrokerStorage(), logger: logger)
        let bound = AsyncStream<Int>.makeStream()
        let service = BrokerService(broker: broker, host: "127.0.0.1", port: 0, logger: logger) { address in
            broker.setAdvertisedPort(Int32(address.port!))
            bound.continuation.yield(address.port!)
        }
        try run(service)
        var ports = bound.stream.makeAsyncIterator()
        guard let port = await ports.next() else { throw XCTSkip("broker did not start") }
        return "127.0.0.1:\(port)"
    }

    private func run(_ service: some Service) throws {
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
        groups.append(group)
        tasks.append(Task { try await group.run() })
    }

    override func tearDown() async throws {
        for group in groups.reversed() { await group.triggerGracefulShutdown() }
        for task in tasks { _ = try? await task.value }
    }

    private func link(_ offsets: Link.OffsetMode) -> Link {
        Link(
            source: "east", target: "west", topics: TopicFilter(include: ["orders.*"], exclude: []),
            groups: TopicFilter(include: [".*"], exclude: []), naming: .prefix(separator: "."), compression: "source",
            provenanceHeader: false, refreshIntervalMs: 200, checkpointIntervalMs: 200, offsets: offsets)
    }

    private func produce(_ cluster: KafkaCluster, _ topic: String, partition: Int32, values: [String]) async throws {
        var builder = RecordBatchBuilder()
        for value in values {
            builder.append(key: Array("k".utf8), value: Array(value.utf8), timestamp: 1_700_000_000_000)
        }
        let results = try await cluster.produce([TopicPartition(topic, partition): try builder.build()], acks: -1)
        XCTAssertEqual(results[TopicPartition(topic, partition)]?.isSuccess, true)
    }

    /// Polls `condition` every 50 ms for at most 20 s.
    private func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<400 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTFail("timed out waiting for \(what)")
    }

    private func mirror(_ offsets: Link.OffsetMode, targetOffersMirrorAPI: Bool = true) async throws -> (
        LinkStatus.Snapshot, [Int64]
    ) {
        let east = try await startBroker()
        let west = try await startBroker { $0.mirrorAPI = targetOffersMirrorAPI }
        let source = try KafkaCluster(bootstrap: east)
        let target = try KafkaCluster(bootstrap: west)
        defer {
            Task {
                await source.close(); await target.close()
            }
        }
        _ = try await source.createTopics([NewTopic(name: "orders", partitions: 2)])
        _ = try await source.createTopics([NewTopic(name: "ignored", partitions: 1)])
        try await produce(source, "orders", partition: 0, values: ["a", "b", "c"])
        try await produce(source, "orders", partition: 1, values: ["d"])
        try await produce(source, "ignored", partition: 0, values: ["x"])

        let service = LinkService(link: link(offsets), sourceBootstrap: east, targetBootstrap: west, logger: logger)
        try run(service)
        let remote = [TopicPartition("east.orders", 0), TopicPartition("east.orders", 1)]
        var ends: [Int64] = []
        try await eventually("both partitions mirrored") {
            let answer = try await target.listOffsets(Set(remote), spec: .latest)
            ends = remote.map { (try? answer[$0]?.get().offset) ?? -1 }
            return ends == [3, 1]
        }
        try await eventually("the status to show no lag") {
            let snapshot = service.status.snapshot(now: 0)
            return snapshot.partitions.count == 2
                && snapshot.partitions.allSatisfy { $0.lagRecords == 0 && $0.mirroredOffset == $0.sourceEndOffset }
        }
        let metadata = try await target.refreshMetadata(topics: nil)
        XCTAssertNil(metadata.topics["east.ignored"], "the filter selects orders.* only")
        return (service.status.snapshot(now: 0), ends)
    }

    func testPreserveModeMirrorsIntoAMirrorTopicAndReportsNoLag() async throws {
        let (status, _) = try await mirror(.auto)
        XCTAssertEqual(status.mode, "preserve")
        XCTAssertEqual(status.partitions.map(\.records), [3, 1])
        XCTAssertEqual(status.partitions.map(\.targetTopic), ["east.orders", "east.orders"])
    }

    func testAutoTranslatesIntoABrokerWithoutTheMirrorAPI() async throws {
        let (status, _) = try await mirror(.auto, targetOffersMirrorAPI: false)
        XCTAssertEqual(status.mode, "translate")
        XCTAssertEqual(status.partitions.map(\.records), [3, 1])
        XCTAssertEqual(status.partitions.map(\.duplicates), [0, 0])
    }

    /// A disaster-recovery link: one way, identity naming. The standby's `orders` is a mirror
    /// topic at the primary's offsets, and a fence at the primary is never copied to it.
    func testAOneWayIdentityLinkPreservesOffsetsAndNeverCopiesAFence() async throws {
        let primary = try await startBroker()
        let standby = try await startBroker()
        let source = try KafkaCluster(bootstrap: primary)
        let target = try KafkaCluster(bootstrap: standby)
        defer {
            Task {
                await source.close(); await target.close()
            }
        }
        _ = try await source.createTopics([NewTopic(name: "orders", partitions: 1, configs: ["retention.ms": "-1"])])
        try await produce(source, "orders", partition: 0, values: ["a", "b", "c"])
        // Fenced at the primary (a planned failover's first step): the link still reads it, and
        // neither creating the remote topic nor the config sync at each refresh copies the fence.
        try await source.incrementalAlterTopicConfigs("orders", set: ["strait.fenced": "failover to west"])
        var dr = link(.auto)
        dr.naming = .identity
        let service = LinkService(link: dr, sourceBootstrap: primary, targetBootstrap: standby, logger: logger)
        try run(service)
        let remote = TopicPartition("orders", 0)
        try await eventually("orders mirrored under its own name") {
            let answer = try await target.listOffsets([remote], spec: .latest)
            return (try? answer[remote]?.get().offset) == 3
        }
        XCTAssertEqual(service.status.snapshot(now: 0).mode, "preserve")
        XCTAssertEqual(service.status.snapshot(now: 0).partitions.map(\.targetTopic), ["orders"])
        try await Task.sleep(for: .milliseconds(600))  // three refreshes: configs are synced at each
        guard case let .success(configs)? = try await target.describeTopicConfigs(["orders"])["orders"] else {
            return XCTFail("no configs for orders at the standby")
        }
        XCTAssertEqual(configs["strait.mirror.source"]?.value, "east")
        XCTAssertEqual(configs["retention.ms"]?.value, "-1", "other configs are copied")
        XCTAssertEqual(configs["strait.fenced"]?.isDefault, true, "the fence stays at the primary")
        let refused = try await target.produce([remote: try batchOf(["local"])], acks: -1)
        XCTAssertEqual(refused[remote]?.errorCode, .invalidTopicException, "a mirror topic until promoted")
    }

    func testAnIdentityLinkWithAReverseLinkTranslates() async throws {
        var withReverse = link(.auto)
        withReverse.naming = .identity
        withReverse.hasReverseLink = true
        let (east, west) = (try await startBroker(), try await startBroker())
        let source = try KafkaCluster(bootstrap: east)
        defer { Task { await source.close() } }
        _ = try await source.createTopics([NewTopic(name: "orders", partitions: 1)])
        try await produce(source, "orders", partition: 0, values: ["a"])
        let service = LinkService(link: withReverse, sourceBootstrap: east, targetBootstrap: west, logger: logger)
        try run(service)
        try await eventually("the link to start") { service.status.snapshot(now: 0).mode != "starting" }
        XCTAssertEqual(service.status.snapshot(now: 0).mode, "translate")
    }

    private func batchOf(_ values: [String]) throws -> StoredBatch {
        var builder = RecordBatchBuilder()
        for value in values { builder.append(key: nil, value: Array(value.utf8), timestamp: 1_700_000_000_000) }
        return try builder.build()
    }
}
