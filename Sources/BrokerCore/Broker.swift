import Foundation
import GroupCoordination
import KafkaProtocol
import KafkaRecords
import Logging
import LogStorage
import NIOCore
import Security

/// Who sent a request; used in logs.
public struct ConnectionContext: Sendable {
    public var id: UInt64
    public var remoteAddress: String
    /// The peer's IP address alone (shown as a group member's client host).
    public var remoteHost: String

    /// The listener the connection came in on, and the address that listener advertises (nil:
    /// the broker's `advertised-host`/`advertised-port`). Metadata, FindCoordinator and
    /// DescribeCluster answer with it, so a client stays on the listener it chose.
    public var listenerName: String
    public var advertised: (host: String, port: Int32)?
    /// Authentication state of this connection (shared by all its requests).
    public var session: ConnectionSession

    public init(
        id: UInt64, remoteAddress: String, remoteHost: String = "unknown",
        listenerName: String = "PLAINTEXT", advertised: (host: String, port: Int32)? = nil,
        session: ConnectionSession = ConnectionSession()
    ) {
        self.id = id
        self.remoteAddress = remoteAddress
        self.remoteHost = remoteHost
        self.listenerName = listenerName
        self.advertised = advertised
        self.session = session
    }
}

/// What the network layer does with a request frame once the broker has handled it.
public enum RequestOutcome: Sendable {
    /// A complete response frame, 4-byte length prefix included.
    case respond(ByteBuffer)
    /// acks=0 produce: nothing goes back.
    case noResponse
    /// The request was malformed or unsupported: close this connection, log the reason.
    case closeConnection(reason: String)
    /// Send this response, then close (a failed SASL exchange).
    case respondAndClose(ByteBuffer, reason: String)
}

/// The sans-IO broker: takes request frames, returns response frames. No sockets here; the
/// BrokerServer module owns the network, tests call `handle` directly.
public final class Broker: @unchecked Sendable {
    public private(set) var config: BrokerConfig
    public let clusterId: String
    let storage: any BrokerStorage
    let logger: Logger
    /// Milliseconds since the epoch; injected so tests control time.
    let now: @Sendable () -> Int64
    let allocator = ByteBufferAllocator()
    /// Where requests and the background duties run: they append, fsync and create files
    /// synchronously, which must not happen on Swift's cooperative pool (docs/broker.md).
    public let blockingIO: BlockingIOExecutor = .shared

    /// Guards `topics`, `topicsById` and `producerIdLimit`/`nextProducerId`.
    let lock = NSLock()
    var topics: [String: TopicState] = [:]
    var topicsById: [KafkaUUID: String] = [:]
    var producerIdLimit: Int64
    var nextProducerId: Int64
    /// Serialises topic creation, deletion and config changes, and their persistence.
    let adminLock = NSLock()
    /// Consumer groups and committed offsets, persisted in the internal groups topic. Set at the
    /// end of `init` (the store needs the broker's topics), never changed afterwards.
    public private(set) var groups: GroupCoordinator!
    /// SASL mechanisms and credential stores.
    public let authentication: BrokerAuthentication
    /// ACLs; nil when `acl-authorizer` is off (every request allowed).
    public let authorizer: Authorizer?
    /// Denials, administrative changes and failed authentications, one JSON line each; nil
    /// unless ACLs are enforced or a listener uses SASL (`BrokerConfig.auditLogEnabled`).
    public let auditLog: AuditLog?

    public static func systemNow() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    public init(
        config: BrokerConfig, storage: any BrokerStorage, logger: Logger,
        now: @escaping @Sendable () -> Int64 = Broker.systemNow
    ) throws {
        self.config = config
        self.storage = storage
        self.logger = logger
        self.now = now
        self.authentication = try BrokerAuthentication.open(
            directory: storage.securityDirectory, mechanisms: config.saslMechanisms)
        let directory = storage.securityDirectory
        if config.auditLogEnabled {
            let auditURL =
                config.auditLogFile.map { URL(fileURLWithPath: $0) } ?? directory?.appendingPathComponent("audit.log")
            self.auditLog = try auditURL.map { try AuditLog(url: $0, logger: logger) }
        } else {
            self.auditLog = nil
        }
        if config.aclAuthorizer {
            self.authorizer = Authorizer(
                store: try AclStore(url: directory?.appendingPathComponent("acls.json")),
                configuration: AuthorizerConfiguration(
                    superUsers: Set(config.superUsers.compactMap(KafkaPrincipal.init(parsing:)))),
                auditLog: auditLog)
        } else {
            self.authorizer = nil
        }
        let snapshot = try storage.loadMetadata()
        let clusterId = snapshot?.clusterId ?? config.clusterId ?? KafkaUUID.random().description
        if let wanted = config.clusterId, wanted != clusterId {
            throw BrokerStartupError.clusterIdMismatch(configured: wanted, stored: clusterId)
        }
        self.clusterId = clusterId
        // Producer ids are handed out in blocks; after a restart we skip the whole last block so
        // no id is ever reused.
        producerIdLimit = snapshot?.producerIdLimit ?? 0
        nextProducerId = producerIdLimit
        let start = now()
        for (name, record) in (snapshot?.topics ?? [:]).sorted(by: { $0.key < $1.key }) {
            let logConfig = record.configs.logConfig(broker: config)
            var partitions: [PartitionState] = []
            for index in 0..<record.partitions {
                let log = try storage.openLog(topic: name, partition: index, config: logConfig, now: start)
                let stateStart =
                    record.producerStateStarts.flatMap { Int(index) < $0.count ? $0[Int(index)] : nil } ?? 0
                let partition = PartitionState(
                    topic: name, index: index, log: log, mirrorSource: record.configs.mirrorSource,
                    fence: record.configs.fence, producerStateStart: stateStart)
                try partition.rebuildProducerState()
                partitions.append(partition)
            }
            let id = KafkaUUID(high: record.idHigh, low: record.idLow)
            topics[name] = TopicState(name: name, id: id, partitions: partitions, configs: record.configs)
            topicsById[id] = name
        }
        try persistMetadata()
        let store = try openGroupStore()
        groups = GroupCoordinator(
            config: config.groupCoordinator, store: store, now: now,
            topicPartitionExists: { [unowned self] topic, partition in
                !InternalTopics.isInternal(topic) && self.partition(topic, partition) != nil
            },
            logger: logger)
        try groups.start()
    }

    /// For listeners bound to port 0: advertise the port actually bound. Call before serving.
    public func setAdvertisedPort(_ port: Int32) { config.advertisedPort = port }

    // MARK: Topic registry

    func topic(named name: String) -> TopicState? { lock.withLock { topics[name] } }

    func partition(_ topic: String, _ index: Int32) -> PartitionState? {
        lock.withLock {
            guard let state = topics[topic], index >= 0, Int(index) < state.partitions.count else { return nil }
            return state.partitions[Int(index)]
        }
    }

    func allTopics() -> [TopicState] { lock.withLock { topics.values.sorted { $0.name < $1.name } } }

    /// Writes the metadata snapshot. Callers hold `adminLock` (or are in init).
    func persistMetadata() throws {
        let (current, limit) = lock.withLock {
            (topics.mapValues { (id: $0.id, partitions: $0.partitions, configs: $0.configs) }, producerIdLimit)
        }
        // Read outside `lock`: a partition's state is guarded by its log's append lock.
        let records = current.mapValues { topic in
            let starts = topic.partitions.map(\.mirrorState.producerStateStart)
            return BrokerMetadataSnapshot.TopicRecord(
                idHigh: topic.id.high, idLow: topic.id.low, partitions: Int32(topic.partitions.count),
                configs: topic.configs, producerStateStarts: starts.contains { $0 != 0 } ? starts : nil)
        }
        try storage.saveMetadata(BrokerMetadataSnapshot(clusterId: clusterId, topics: records, producerIdLimit: limit))
    }

    enum TopicCreationError: Error {
        case alreadyExists
        case invalid(KafkaErrorCode, String)
    }

    /// Creates a topic with its partition logs and persists it.
    @discardableResult
    func createTopic(name: String, partitions: Int32, configs: [String: String], validateOnly: Bool = false)
        throws(TopicCreationError) -> TopicState?
    {
        if let problem = TopicNames.problem(with: name) { throw .invalid(.invalidTopicException, problem) }
        guard partitions > 0 else {
            throw .invalid(.invalidPartitions, "number of partitions must be positive, got \(partitions)")
        }
        guard partitions <= 100_000 else {
            throw .invalid(.invalidPartitions, "number of partitions \(partitions) is more than 100000")
        }
        for (key, value) in configs {
            if let problem = TopicConfigCatalog.problem(name: key, value: value) {
                throw .invalid(.invalidConfig, problem)
            }
        }
        adminLock.lock()
        defer { adminLock.unlock() }
        if topic(named: name) != nil { throw .alreadyExists }
        if validateOnly { return nil }
        let topicConfigs = TopicConfigs(overrides: configs)
        let logConfig = topicConfigs.logConfig(broker: config)
        var states: [PartitionState] = []
        do {
            for index in 0..<partitions {
                let log = try storage.openLog(topic: name, partition: index, config: logConfig, now: now())
                states.append(
                    PartitionState(
                        topic: name, index: index, log: log, mirrorSource: topicConfigs.mirrorSource,
                        fence: topicConfigs.fence))
            }
        } catch {
            throw .invalid(.kafkaStorageError, "could not create the logs of \(name): \(error)")
        }
        let state = TopicState(name: name, id: KafkaUUID.random(), partitions: states, configs: topicConfigs)
        lock.withLock {
            topics[name] = state
            topicsById[state.id] = name
        }
        do { try persistMetadata() } catch {
            throw .invalid(.kafkaStorageError, "could not persist topic \(name): \(error)")
        }
        logger.info("created topic", metadata: ["topic": "\(name)", "partitions": "\(partitions)"])
        return state
    }

    /// The topic, created with the default settings if auto-creation allows it.
    func topicForWrite(_ name: String, autoCreate: Bool) -> (TopicState?, KafkaErrorCode) {
        if let existing = topic(named: name) { return (existing, .none) }
        guard autoCreate, config.autoCreateTopics else { return (nil, .unknownTopicOrPartition) }
        do {
            return (try createTopic(name: name, partitions: config.defaultPartitions, configs: [:]), .none)
        } catch {
            switch error {
            case .alreadyExists: return (topic(named: name), .none)
            case let .invalid(code, _):
                return (nil, code == .invalidTopicException ? .invalidTopicException : .unknownTopicOrPartition)
            }
        }
    }

    // MARK: Producer ids

    static let producerIdBlock: Int64 = 1000

    func allocateProducerId() throws -> Int64 {
        try adminLock.withLock {
            let (id, needsPersist) = lock.withLock { () -> (Int64, Bool) in
                let id = nextProducerId
                nextProducerId += 1
                if nextProducerId > producerIdLimit {
                    producerIdLimit += Self.producerIdBlock
                    return (id, true)
                }
                return (id, false)
            }
            if needsPersist { try persistMetadata() }
            return id
        }
    }

    // MARK: Background duties

    /// Applies time and size retention to every partition; returns the segments deleted.
    @discardableResult
    public func enforceRetention() -> Int {
        var deleted = 0
        for topic in allTopics() {
            for partition in topic.partitions {
                do { deleted += try partition.log.enforceRetention(now: now()) } catch {
                    logger.error(
                        "retention failed",
                        metadata: ["partition": "\(topic.name)-\(partition.index)", "error": "\(error)"])
                }
            }
        }
        return deleted
    }

    /// fsyncs every partition (the interval flush policy calls this on a timer).
    public func flushAll() {
        for topic in allTopics() {
            for partition in topic.partitions {
                do { try partition.log.flush() } catch {
                    logger.error(
                        "flush failed", metadata: ["partition": "\(topic.name)-\(partition.index)", "error": "\(error)"]
                    )
                }
            }
        }
    }

    /// Flushes and closes every log. The broker must not be used afterwards.
    public func shutdown() {
        groups.shutdown()
        for topic in allTopics() {
            for partition in topic.partitions {
                partition.watchers.notifyAppend()
                do { try partition.log.close() } catch {
                    logger.error(
                        "close failed", metadata: ["partition": "\(topic.name)-\(partition.index)", "error": "\(error)"]
                    )
                }
            }
        }
    }
}

public enum BrokerStartupError: Error, CustomStringConvertible {
    case clusterIdMismatch(configured: String, stored: String)

    public var description: String {
        switch self {
        case let .clusterIdMismatch(configured, stored):
            "configured cluster-id \(configured) does not match the data directory's cluster id \(stored)"
        }
    }
}
