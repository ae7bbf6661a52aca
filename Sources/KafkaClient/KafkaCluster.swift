import KafkaProtocol
import Logging
import NIOCore
import NIOPosix

/// A client's view of one Kafka-protocol cluster: bootstrap, metadata, one lazily opened
/// connection per broker, group coordinators, and retries with backoff.
///
/// Operations (metadata, offsets, groups, produce, fetch, admin) are extensions built on
/// three primitives: `anyConnection()`, `connection(to:)` and `withRetries(_:_:)`.
public actor KafkaCluster {
    public nonisolated let bootstrapServers: [BrokerAddress]
    public nonisolated let configuration: KafkaClientConfiguration
    nonisolated let eventLoopGroup: any EventLoopGroup
    nonisolated let logger: Logger
    /// Pauses between attempts; tests replace it to avoid sleeping.
    nonisolated let sleep: @Sendable (Duration) async throws -> Void

    /// The last Metadata answer, with the topics of partial refreshes merged in.
    ///
    /// Invariant: a topic is served from the cache only while `topicsRefreshedAt` has an entry
    /// for it younger than `configuration.metadataMaxAge`. A refresh stamps exactly the topics it
    /// asked for (for a refresh of every topic: every topic in the answer), so refreshing some
    /// topics never makes another, stale topic look fresh; invalidating removes stamps. Brokers
    /// come with every answer.
    private var metadataCache: ClusterMetadata?
    /// When the request that last refreshed each topic was sent.
    private var topicsRefreshedAt: [String: ContinuousClock.Instant] = [:]
    /// Refreshes that fill the cache for lookups, by the sorted topics asked for (nil: every
    /// topic): a lookup that needs one already in flight waits for it instead of sending another.
    private var lookupRefreshes: [[String]?: Task<ClusterMetadata, any Error>] = [:]
    /// Open connections per broker and lane (lane 0: everything but fetches).
    private var connections: [ConnectionKey: (address: BrokerAddress, task: Task<KafkaConnection, any Error>)] = [:]
    private var bootstrapConnection: KafkaConnection?
    private var groupCoordinators: [String: BrokerNode] = [:]
    private var closed = false

    public init(
        bootstrapServers: [BrokerAddress],
        configuration: KafkaClientConfiguration = KafkaClientConfiguration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "strait.kafka-client"),
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) throws {
        guard !bootstrapServers.isEmpty else { throw KafkaClientError.invalidBootstrap("no bootstrap server given") }
        try configuration.checkSecurity()
        self.bootstrapServers = bootstrapServers
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.sleep = sleep
    }

    /// `bootstrap` is a comma-separated "host:port" list.
    public init(
        bootstrap: String, configuration: KafkaClientConfiguration = KafkaClientConfiguration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "strait.kafka-client")
    ) throws {
        try self.init(
            bootstrapServers: try BrokerAddress.parseList(bootstrap), configuration: configuration,
            eventLoopGroup: eventLoopGroup, logger: logger)
    }

    /// Closes every connection. Later calls fail with `clientClosed`.
    public func close() async {
        closed = true
        let open = connections.values.map(\.task)
        connections = [:]
        let bootstrap = bootstrapConnection
        bootstrapConnection = nil
        for task in open {
            if let connection = try? await task.value { await connection.close() }
        }
        await bootstrap?.close()
    }

    // MARK: Connections

    /// A connection to broker `nodeId` (opened on first use, reopened after it dropped).
    ///
    /// `lane` picks one of several connections to the same broker. Kafka handles a
    /// connection's requests one at a time, so a long-polling Fetch holds back everything
    /// queued behind it on its connection: fetches use lane 1 by default (`FetchOptions.lane`),
    /// everything else lane 0, and concurrent long polls to one broker belong on lanes of their own.
    public func connection(to nodeId: Int32, lane: Int = 0) async throws -> KafkaConnection {
        if let entry = connections[ConnectionKey(nodeId: nodeId, lane: lane)] {
            return try await usable(ConnectionKey(nodeId: nodeId, lane: lane), address: entry.address, entry.task)
        }
        var node = metadataCache?.brokers[nodeId]
        if node == nil {
            node = try await refreshMetadata(topics: []).brokers[nodeId]
        }
        guard let node else { throw KafkaClientError.unknownBroker(nodeId) }
        return try await connection(to: node, lane: lane)
    }

    /// A connection to `node` (as FindCoordinator or Metadata described it); `lane` as above.
    public func connection(to node: BrokerNode, lane: Int = 0) async throws -> KafkaConnection {
        try checkOpen()
        let key = ConnectionKey(nodeId: node.nodeId, lane: lane)
        if let entry = connections[key], entry.address == node.address {
            return try await usable(key, address: node.address, entry.task)
        }
        if let old = connections.removeValue(forKey: key) {
            // The broker moved: close the old connection in the background.
            Task { try? await old.task.value.close() }
        }
        let task = openTask(to: node.address, nodeId: node.nodeId)
        connections[key] = (node.address, task)
        return try await usable(key, address: node.address, task)
    }

    private func usable(_ key: ConnectionKey, address: BrokerAddress, _ task: Task<KafkaConnection, any Error>)
        async throws -> KafkaConnection
    {
        do {
            let connection = try await task.value
            if connection.isActive { return connection }
            // Dropped since: open a new one (once; a failure then propagates).
            if connections[key]?.task == task { connections[key] = nil }
            let fresh = openTask(to: address, nodeId: key.nodeId)
            connections[key] = (address, fresh)
            return try await fresh.value
        } catch {
            if connections[key]?.task == task { connections[key] = nil }
            throw error
        }
    }

    private func openTask(to address: BrokerAddress, nodeId: Int32?) -> Task<KafkaConnection, any Error> {
        let configuration = self.configuration, group = self.eventLoopGroup, logger = self.logger
        return Task {
            try await KafkaConnection.connect(
                to: address, nodeId: nodeId, configuration: configuration,
                eventLoopGroup: group, logger: logger)
        }
    }

    /// Any usable connection: one already open, else a bootstrap server, else a broker from
    /// cached metadata. Every address that fails is named in the error.
    public func anyConnection() async throws -> KafkaConnection {
        try checkOpen()
        for (key, entry) in connections where key.lane == 0 {
            if let connection = try? await entry.task.value, connection.isActive { return connection }
        }
        if let bootstrapConnection, bootstrapConnection.isActive { return bootstrapConnection }
        var failures: [String] = []
        var candidates = bootstrapServers
        for node in (metadataCache?.brokers.values.sorted { $0.nodeId < $1.nodeId } ?? [])
        where !candidates.contains(node.address) {
            candidates.append(node.address)
        }
        for address in candidates {
            do {
                let connection = try await openTask(to: address, nodeId: nil).value
                bootstrapConnection = connection
                return connection
            } catch let error as KafkaClientError {
                if case .noCommonVersion = error { throw error }
                if case .unsupportedSecurityProtocol = error { throw error }
                failures.append("\(address): \(Self.reason(error))")
            }
        }
        throw KafkaClientError.noBrokerAvailable(failures)
    }

    private static func reason(_ error: KafkaClientError) -> String {
        if case let .connectionFailed(_, reason) = error { return reason }
        return error.description
    }

    private func checkOpen() throws {
        if closed { throw KafkaClientError.clientClosed }
    }

    // MARK: Metadata

    /// Metadata for `topics` (nil: every topic), refreshed from a broker now. Only the topics
    /// asked for become fresh (see `metadataCache`).
    public func refreshMetadata(topics: [String]?) async throws -> ClusterMetadata {
        let connection = try await anyConnection()
        let version = try connection.version(for: .metadata)
        var request = MetadataRequest(
            topics: topics.map { $0.map { MetadataRequest.MetadataRequestTopic(name: $0) } },
            allowAutoTopicCreation: false)
        if version == 0 && topics == nil {
            request.topics = []  // v0: an empty list means every topic
        } else if version == 0 && topics?.isEmpty == true {
            // v0 cannot ask for "no topic"; ask for every topic instead (brokers only are wanted).
            request.topics = []
        }
        let sentAt = ContinuousClock.now
        let response = try await connection.send(request, version: version)
        let fresh = ClusterMetadata(response, version: version)
        var merged = fresh
        if let topics {
            if let old = metadataCache {
                // A partial refresh: keep the other topics we already knew (and their staleness).
                merged.topics = old.topics.merging(fresh.topics) { _, new in new }
            }
            for topic in topics where fresh.topics[topic] != nil { topicsRefreshedAt[topic] = sentAt }
        } else {
            topicsRefreshedAt = Dictionary(uniqueKeysWithValues: fresh.topics.keys.map { ($0, sentAt) })
        }
        metadataCache = merged
        return merged
    }

    /// Cached metadata when it is fresh for every one of `topics`, else after a refresh of those
    /// that are not (nil: every topic, always refreshed).
    public func metadata(topics: [String]? = nil) async throws -> ClusterMetadata {
        guard let topics else { return try await lookupRefresh(topics: nil) }
        let now = ContinuousClock.now
        let stale = topics.filter { !isFresh($0, now: now) }
        if let cached = metadataCache, stale.isEmpty { return cached }
        return try await lookupRefresh(topics: stale)
    }

    /// Metadata that lists every one of `partitions`: the cache when it is fresh for their topics
    /// and lists them, else after one refresh of the topics that are stale or lack one of the
    /// partitions (a topic that grew since it was cached). A partition still missing after that
    /// does not exist: routing reports it as UNKNOWN_TOPIC_OR_PARTITION.
    func metadata(listing partitions: Set<TopicPartition>) async throws -> ClusterMetadata {
        let now = ContinuousClock.now
        var refresh = Set(partitions.map(\.topic).filter { !isFresh($0, now: now) })
        for tp in partitions where metadataCache?.topics[tp.topic]?.error == KafkaErrorCode.none {
            if metadataCache?.partition(tp) == nil { refresh.insert(tp.topic) }
        }
        if let cached = metadataCache, refresh.isEmpty { return cached }
        return try await lookupRefresh(topics: Array(refresh))
    }

    private func isFresh(_ topic: String, now: ContinuousClock.Instant) -> Bool {
        guard metadataCache?.topics[topic] != nil, let refreshedAt = topicsRefreshedAt[topic] else { return false }
        return now - refreshedAt < configuration.metadataMaxAge
    }

    /// `refreshMetadata(topics:)` for a lookup, or the same refresh already in flight: at most one
    /// request per topic set at a time.
    private func lookupRefresh(topics: [String]?) async throws -> ClusterMetadata {
        let key = topics.map { Array(Set($0)).sorted() }
        if let inFlight = lookupRefreshes[key] { return try await inFlight.value }
        let refresh = Task { try await self.refreshMetadata(topics: key) }
        lookupRefreshes[key] = refresh
        defer { if lookupRefreshes[key] == refresh { lookupRefreshes[key] = nil } }
        return try await refresh.value
    }

    /// Marks all cached metadata stale (after a leadership error), so the next use refreshes it.
    public func invalidateMetadata() { topicsRefreshedAt = [:] }

    /// Marks `topics` stale: the next lookup of one of them refreshes it (and only them).
    public func invalidateMetadata<Topics: Sequence<String>>(topics: Topics) {
        for topic in topics { topicsRefreshedAt[topic] = nil }
    }

    // MARK: Coordinators

    public enum CoordinatorType: Int8, Sendable {
        case group = 0
        case transaction = 1
    }

    /// Looks up coordinators for `keys` with one FindCoordinator request (v4+, batched) or one
    /// request per key (v0-3). Per-key failures are returned, not thrown.
    public func findCoordinators(_ keys: [String], type: CoordinatorType = .group) async throws -> [String: Result<
        BrokerNode, KafkaClientError
    >] {
        let connection = try await anyConnection()
        // v0 has no KeyType: it can only look up group coordinators.
        let version = try connection.version(for: .findCoordinator, within: type == .group ? nil : 1...Int16.max)
        var results: [String: Result<BrokerNode, KafkaClientError>] = [:]
        if version >= 4 {
            let response = try await connection.send(
                FindCoordinatorRequest(keyType: type.rawValue, coordinatorKeys: keys), version: version)
            for coordinator in response.coordinators {
                results[coordinator.key] = Self.coordinatorResult(
                    code: coordinator.errorCode, message: coordinator.errorMessage, key: coordinator.key,
                    node: BrokerNode(nodeId: coordinator.nodeId, host: coordinator.host, port: coordinator.port))
            }
            for key in keys where results[key] == nil {
                results[key] = .failure(
                    .protocolViolation(connection.address, "FindCoordinator response has no entry for '\(key)'"))
            }
        } else {
            for key in keys {
                let response = try await connection.send(
                    FindCoordinatorRequest(key: key, keyType: type.rawValue), version: version)
                results[key] = Self.coordinatorResult(
                    code: response.errorCode, message: response.errorMessage, key: key,
                    node: BrokerNode(nodeId: response.nodeId, host: response.host, port: response.port))
            }
        }
        return results
    }

    private static func coordinatorResult(code: KafkaErrorCode, message: String?, key: String, node: BrokerNode)
        -> Result<BrokerNode, KafkaClientError>
    {
        guard !code.isError else {
            return .failure(.broker(code, message: message, context: "FindCoordinator for '\(key)'"))
        }
        return .success(node)
    }

    /// The coordinator of `group` (cached until `invalidateCoordinator`).
    public func groupCoordinator(for group: String) async throws -> BrokerNode {
        if let cached = groupCoordinators[group] { return cached }
        guard let result = try await findCoordinators([group])[group] else {
            throw KafkaClientError.broker(
                .coordinatorNotAvailable, message: nil, context: "FindCoordinator for '\(group)'")
        }
        let node = try result.get()
        groupCoordinators[group] = node
        return node
    }

    public func invalidateCoordinator(for group: String) {
        groupCoordinators[group] = nil
    }

    /// The connection to `group`'s coordinator.
    public func coordinatorConnection(for group: String) async throws -> KafkaConnection {
        let node = try await groupCoordinator(for: group)
        do {
            return try await connection(to: node)
        } catch {
            invalidateCoordinator(for: group)
            throw error
        }
    }

    // MARK: Retries

    /// Runs `body` until it succeeds, throws a non-retriable error, or `configuration.retry`
    /// attempts are used up (the last error is thrown). Between attempts: backoff, and cached
    /// metadata is marked stale so leaders and brokers are looked up again.
    func withRetries<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let error as KafkaClientError where error.isRetriable && attempt < configuration.retry.maxAttempts {
                let delay = configuration.retry.backoff(afterAttempt: attempt)
                logger.debug(
                    "retrying",
                    metadata: [
                        "operation": "\(what)", "attempt": "\(attempt)", "error": "\(error)", "backoff": "\(delay)"
                    ])
                invalidateMetadata()
                attempt += 1
                try await sleep(delay)
            }
        }
    }
}

/// One of the connections to a broker (see `KafkaCluster.connection(to:lane:)`).
struct ConnectionKey: Hashable, Sendable {
    var nodeId: Int32
    var lane: Int
}
