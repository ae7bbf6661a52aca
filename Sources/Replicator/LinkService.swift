import Foundation
import KafkaClient
import KafkaProtocol
import KafkaRecords
import Logging
import NIOCore
import Replication
import ServiceLifecycle
import Topology

/// One link of a topology, run as a Service: discovers the source topics its policy selects,
/// creates them at the target, mirrors every partition, and writes MirrorMaker-2-style offset
/// syncs, checkpoints (with group offsets for groups idle at the target) and heartbeats.
///
/// Graceful shutdown stops fetching, lets writes in flight finish and flushes offset syncs.
public final class LinkService: Service, Sendable {
    public let link: Link
    let sourceBootstrap: String
    let targetBootstrap: String
    public let status: LinkStatus
    let logger: Logger
    let sourceConfiguration: KafkaClientConfiguration
    let targetConfiguration: KafkaClientConfiguration

    /// Configs never copied to the target (MirrorMaker 2's default exclude list, plus Strait's
    /// own mirror marker and fence: a fence at the primary must never fence the standby).
    static let excludedConfigs: Set<String> = [
        "follower.replication.throttled.replicas", "leader.replication.throttled.replicas",
        "message.timestamp.difference.max.ms", "message.timestamp.type", "unclean.leader.election.enable",
        "min.insync.replicas", "strait.mirror.source", "strait.fenced"
    ]

    public init(
        link: Link, sourceBootstrap: String, targetBootstrap: String,
        sourceConfiguration: KafkaClientConfiguration = KafkaClientConfiguration(),
        targetConfiguration: KafkaClientConfiguration = KafkaClientConfiguration(), logger: Logger
    ) {
        self.link = link
        self.sourceBootstrap = sourceBootstrap
        self.targetBootstrap = targetBootstrap
        self.sourceConfiguration = sourceConfiguration
        self.targetConfiguration = targetConfiguration
        self.status = LinkStatus(source: link.source, target: link.target)
        var logger = logger
        logger[metadataKey: "link"] = "\(link.source)->\(link.target)"
        self.logger = logger
    }

    var policy: ReplicationPolicy { link.replicationPolicy }

    public func run() async throws {
        func tuned(_ base: KafkaClientConfiguration) -> KafkaClientConfiguration {
            var configuration = base
            configuration.clientId = "strait-replicator-\(link.source)-\(link.target)"
            configuration.socketSendBufferBytes = link.socketBufferBytes
            configuration.socketReceiveBufferBytes = link.socketBufferBytes
            // The partition mirrors' preserve-mode writes (negotiated with ApiVersions like every other API).
            configuration.supportedVersions[.straitMirrorAppend] = 0...0
            return configuration
        }
        let source = try KafkaCluster(
            bootstrap: sourceBootstrap, configuration: tuned(sourceConfiguration), logger: logger)
        let target = try KafkaCluster(
            bootstrap: targetBootstrap, configuration: tuned(targetConfiguration), logger: logger)
        defer {
            Task {
                await source.close(); await target.close()
            }
        }
        do {
            try await cancelWhenGracefulShutdown {
                let (mode, maps) = try await self.startUp(source: source, target: target)
                // Whichever ends first ends both: the watch ends only by finding a failover.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await self.runLink(source: source, target: target, mode: mode, maps: maps) }
                    group.addTask { try await self.failoverWatch(target: target) }
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: the loops ended by cancellation.
        } catch let stopped as LinkFailedOver {
            // The process goes on (an embedded site's broker may run in it): the link idles until shutdown.
            status.failedOver(stopped.record.id)
            logger.error("\(stopped)")
            try? await gracefulShutdown()
        }
        logger.info("link stopped")
    }

    /// Decides the write mode (retrying until both clusters answer) and, in translate mode,
    /// rebuilds every partition's offset map from the offset syncs.
    private func startUp(source: KafkaCluster, target: KafkaCluster) async throws -> (
        WriteMode, [TopicPartition: OffsetMap]
    ) {
        var attempt = 0
        while true {
            do {
                try await refuseIfFailedOver(target: target)
                let mode = try await decideMode(target: target)
                status.setMode(mode.rawValue)
                if mode == .preserve && link.compression != "source" {
                    logger.notice(
                        "offsets: preserve stores the source's batches byte for byte; the link's compression applies in translate mode only",
                        metadata: ["compression": "\(link.compression)"])
                }
                var maps: [TopicPartition: OffsetMap] = [:]
                if mode == .translate {
                    let syncTopic = MirrorTopics.offsetSyncs(targetAlias: link.target)
                    try await source.ensureBookkeepingTopic(
                        syncTopic, partitions: 1,
                        configs: ["cleanup.policy": "delete", "retention.ms": "-1"])
                    let syncs = try await source.readBookkeepingTopic(syncTopic)
                    var byPartition: [TopicPartition: [OffsetSync]] = [:]
                    for (key, value) in syncs {
                        guard let key, let value, let sync = try? OffsetSync(key: key, value: value) else { continue }
                        byPartition[TopicPartition(sync.topic, sync.partition), default: []].append(sync)
                    }
                    maps = byPartition.mapValues { OffsetMap(rebuiltFrom: $0) }
                    logger.info(
                        "offset syncs loaded",
                        metadata: ["partitions": "\(byPartition.count)", "records": "\(syncs.count)"])
                }
                logger.info(
                    "link started",
                    metadata: [
                        "mode": "\(mode.rawValue)", "source": "\(sourceBootstrap)", "target": "\(targetBootstrap)"
                    ])
                return (mode, maps)
            } catch let error as CancellationError {
                throw error
            } catch let error as LinkFailedOver {
                throw error
            } catch {
                attempt += 1
                if attempt == 1 || attempt % 10 == 0 {
                    logger.error(
                        "link cannot start yet; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                }
                status.linkError()
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Every second: a failover recorded at the target stops the link (it throws
    /// `LinkFailedOver`, which ends the link's task group). Needs only the target, so it works
    /// while the source is gone. Errors reading the record are retried at the next tick.
    private func failoverWatch(target: KafkaCluster) async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(1))
            do {
                try await refuseIfFailedOver(target: target)
            } catch let error as LinkFailedOver {
                throw error
            } catch is CancellationError {
                return
            } catch {
                logger.debug("failover record not read; retrying", metadata: ["error": "\(error)"])
            }
        }
    }

    /// A failover recorded at the target for this link's direction means its topics there are
    /// promoted: the link must not write into them. Checked at start-up, at every discovery
    /// refresh and every second (the failover confirms the stop through the status endpoint).
    private func refuseIfFailedOver(target: KafkaCluster) async throws {
        if let record = try await FailoverStore.standing(from: link.source, to: link.target, at: target) {
            throw LinkFailedOver(record: record)
        }
    }

    private func decideMode(target: KafkaCluster) async throws -> WriteMode {
        let connection = try await target.anyConnection()
        let offersMirrorAPI = connection.brokerVersions[.straitMirrorAppend] != nil
        // With a reverse link, an identity-named topic is also written by the target's own
        // producers, which a mirror topic (read-only until promoted) would refuse: it translates.
        // A one-way identity link (disaster recovery) preserves like a prefixed one.
        switch link.offsets {
        case .translate: return .translate
        case .auto: return offersMirrorAPI && link.mayPreserveOffsets ? .preserve : .translate
        case .preserve:
            guard link.mayPreserveOffsets else {
                throw ReplicatorError.configuration(
                    "link \(link.source)->\(link.target): offsets: preserve with identity naming needs a one-way link (\(link.target)->\(link.source) also exists: both sites' producers write the same topic names)"
                )
            }
            guard offersMirrorAPI else {
                throw ReplicatorError.configuration(
                    "link \(link.source)->\(link.target) asks for offsets: preserve, but the target (\(targetBootstrap)) does not offer Strait's mirror API; use offsets: translate or auto"
                )
            }
            return .preserve
        }
    }

    /// - Parameter maps: the rebuilt offset maps, each handed to its partition's mirror when it starts.
    private func runLink(source: KafkaCluster, target: KafkaCluster, mode: WriteMode, maps: [TopicPartition: OffsetMap])
        async throws
    {
        let policy = self.policy
        var maps = maps
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await self.checkpointLoop(source: source, target: target) }
            var started: Set<TopicPartition> = []
            var mirrored: [String: String] = [:]  // source topic -> remote topic, as seen at the source
            var lane = 1
            while !Task.isCancelled {
                do {
                    try await refuseIfFailedOver(target: target)
                    let metadata = try await source.refreshMetadata(topics: nil)
                    if link.syncTopicDeletion {
                        for (name, remote) in mirrored where metadata.topics[name] == nil {
                            try await deleteRemoteTopic(target: target, source: name, remote: remote)
                            mirrored.removeValue(forKey: name)
                            started = started.filter { $0.topic != name }
                            maps = maps.filter { $0.key.topic != name }
                        }
                    }
                    for (name, topic) in metadata.topics.sorted(by: { $0.key < $1.key })
                    where !topic.isInternal && topic.error == .none {
                        guard case let .replicate(remote) = policy.decision(for: name) else { continue }
                        if mirrored[name] != nil {
                            await syncConfigs(source: source, target: target, topic: name, remote: remote)
                        }
                        mirrored[name] = remote
                        let partitions = topic.partitions.map(\.partition).sorted()
                        let newOnes = partitions.map { TopicPartition(name, $0) }.filter { !started.contains($0) }
                        guard !newOnes.isEmpty else { continue }
                        try await ensureRemoteTopic(
                            source: source, target: target, topic: name, remote: remote,
                            partitions: Int32(partitions.count), mode: mode)
                        for partition in newOnes {
                            started.insert(partition)
                            let mirror = PartitionMirror(
                                link: self, source: source, target: target, sourcePartition: partition,
                                remote: TopicPartition(remote, partition.partition), mode: mode, lane: lane,
                                offsetMap: maps.removeValue(forKey: partition) ?? OffsetMap())
                            lane = lane % 8 + 1
                            tasks.addTask { await mirror.run() }
                        }
                    }
                } catch let error as CancellationError {
                    throw error
                } catch let error as LinkFailedOver {
                    tasks.cancelAll()
                    throw error
                } catch {
                    status.linkError()
                    logger.error(
                        "topic discovery failed; retrying at the next refresh", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .milliseconds(link.refreshIntervalMs))
            }
            tasks.cancelAll()
        }
    }

    /// Creates the remote topic with the source's partition count and topic configs (minus the
    /// excluded ones), or adds partitions to match.
    private func ensureRemoteTopic(
        source: KafkaCluster, target: KafkaCluster, topic: String, remote: String,
        partitions: Int32, mode: WriteMode
    ) async throws {
        let existing = try await target.refreshMetadata(topics: [remote]).topics[remote]
        if let existing, existing.error == .none {
            if existing.partitions.count < partitions {
                try await target.createPartitions(remote, totalCount: partitions)
                logger.info(
                    "added partitions to remote topic", metadata: ["topic": "\(remote)", "partitions": "\(partitions)"])
            }
            return
        }
        var configs = try await replicatedConfigs(source, topic: topic)
        if mode == .preserve { configs["strait.mirror.source"] = link.source }
        let result = try await target.createTopics([NewTopic(name: remote, partitions: partitions, configs: configs)])[
            remote]
        if let result, !result.isSuccess && !result.alreadyExists {
            throw ReplicatorError.target(
                "cannot create \(remote) at \(link.target): \(result.errorCode) \(result.errorMessage ?? "")")
        }
        logger.info(
            "created remote topic",
            metadata: ["topic": "\(remote)", "partitions": "\(partitions)", "configs": "\(configs.keys.sorted())"])
    }

    /// The source topic's own configs (set on the topic, not defaults), minus the excluded ones.
    private func replicatedConfigs(_ cluster: KafkaCluster, topic: String) async throws -> [String: String] {
        var configs: [String: String] = [:]
        if case let .success(entries)? = try await cluster.describeTopicConfigs([topic])[topic] {
            for (name, entry) in entries
            where !entry.isDefault && entry.source == .dynamicTopic && !Self.excludedConfigs.contains(name) {
                if let value = entry.value { configs[name] = value }
            }
        }
        return configs
    }

    /// Every refresh: configs set on the source topic that the remote topic lacks or has
    /// otherwise are set at the target (configs removed at the source are left alone).
    private func syncConfigs(source: KafkaCluster, target: KafkaCluster, topic: String, remote: String) async {
        do {
            let wanted = try await replicatedConfigs(source, topic: topic)
            guard !wanted.isEmpty else { return }
            var current: [String: String] = [:]
            if case let .success(entries)? = try await target.describeTopicConfigs([remote])[remote] {
                for (name, entry) in entries { if let value = entry.value { current[name] = value } }
            }
            let changes = wanted.filter { current[$0.key] != $0.value }
            guard !changes.isEmpty else { return }
            try await target.incrementalAlterTopicConfigs(remote, set: changes)
            logger.info("synced topic configs", metadata: ["topic": "\(remote)", "configs": "\(changes.keys.sorted())"])
        } catch {
            status.linkError()
            logger.error("topic config sync failed", metadata: ["topic": "\(remote)", "error": "\(error)"])
        }
    }

    /// `sync-topic-deletion: true`: the source topic is gone, so the remote one goes too.
    private func deleteRemoteTopic(target: KafkaCluster, source topic: String, remote: String) async throws {
        status.retire(topic)
        let result = try await target.deleteTopics([remote])[remote]
        if let result, !result.isSuccess && result.errorCode != .unknownTopicOrPartition {
            throw ReplicatorError.target("cannot delete \(remote): \(result.errorCode) \(result.errorMessage ?? "")")
        }
        logger.notice(
            "deleted the remote topic of a deleted source topic", metadata: ["source": "\(topic)", "topic": "\(remote)"]
        )
    }

    // MARK: Checkpoints and heartbeats

    private func checkpointLoop(source: KafkaCluster, target: KafkaCluster) async throws {
        let policy = self.policy
        let checkpointTopic = MirrorTopics.checkpoints(sourceAlias: link.source)
        var ready = false
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(link.checkpointIntervalMs))
            do {
                if !ready {
                    try await target.ensureBookkeepingTopic(
                        checkpointTopic, partitions: 1, configs: ["cleanup.policy": "compact"])
                    try await target.ensureBookkeepingTopic(
                        MirrorTopics.heartbeats, partitions: 1, configs: ["cleanup.policy": "compact"])
                    ready = true
                }
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                let heartbeat = Heartbeat(
                    sourceClusterAlias: link.source, targetClusterAlias: link.target, timestamp: now)
                try await target.writeBookkeeping(
                    MirrorTopics.heartbeats, records: [(try heartbeat.key(), heartbeat.value())],
                    now: now)
                try await checkpointGroups(
                    source: source, target: target, policy: policy, topic: checkpointTopic, now: now)
                status.checkpointed(at: now)
            } catch let error as CancellationError {
                throw error
            } catch {
                status.linkError()
                logger.error("checkpoint pass failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func checkpointGroups(
        source: KafkaCluster, target: KafkaCluster, policy: ReplicationPolicy,
        topic: String, now: Int64
    ) async throws {
        let groups = try await source.listGroups().filter { policy.shouldReplicateGroup($0.groupId) }
        var records: [([UInt8], [UInt8])] = []
        for listing in groups {
            let committed = try await source.fetchCommittedOffsets(group: listing.groupId)
            guard !committed.isEmpty else { continue }
            let targetDescription = try? await target.describeGroup(listing.groupId)
            let activeAtTarget = targetDescription.map { !$0.members.isEmpty } ?? false
            let targetCommitted =
                activeAtTarget ? [:] : ((try? await target.fetchCommittedOffsets(group: listing.groupId)) ?? [:])
            let plan = CheckpointPlan(
                group: listing.groupId, committed: committed, policy: policy,
                offsetMap: { topic, partition in self.status.translationMap(for: TopicPartition(topic, partition)) },
                activeAtTarget: activeAtTarget,
                targetCommitted: { remote, partition in targetCommitted[TopicPartition(remote, partition)]?.offset })
            for checkpoint in plan.checkpoints {
                records.append((try checkpoint.key(), try checkpoint.value()))
            }
            for missing in plan.untranslated {
                logger.debug(
                    "committed offset not translated",
                    metadata: [
                        "group": "\(listing.groupId)", "partition": "\(missing.partition)",
                        "offset": "\(missing.committed.offset)", "reason": "\(missing.reason)"
                    ])
            }
            if !plan.commits.isEmpty {
                var offsets: [TopicPartition: CommittedOffset] = [:]
                for commit in plan.commits {
                    offsets[TopicPartition(commit.topic, commit.partition)] = CommittedOffset(
                        offset: commit.offset, metadata: commit.metadata)
                }
                let errors = try await target.commitOffsets(group: listing.groupId, offsets: offsets)
                for (partition, code) in errors where code != .none {
                    logger.warning(
                        "group offset sync refused by the target",
                        metadata: [
                            "group": "\(listing.groupId)", "partition": "\(partition)", "error": "\(code)"
                        ])
                }
            }
        }
        try await target.writeBookkeeping(topic, records: records, now: now)
    }
}

/// The link stopped because a failover promoted its topics at the target.
struct LinkFailedOver: Error, CustomStringConvertible {
    var record: FailoverRecord

    var description: String {
        let at = Date(timeIntervalSince1970: Double(record.promotedAtMs) / 1000).formatted(.iso8601)
        return
            "link \(record.from)->\(record.to) stopped: failover \(record.id) (\(record.kind.rawValue)) promoted its topics at \(record.to) at \(at), and the link would write into them. To mirror again, fail back (strait failback FILE --to \(record.from)) or take the link out of the topology"
    }
}

public enum ReplicatorError: Error, CustomStringConvertible {
    case configuration(String)
    case source(String)
    case target(String)

    public var description: String {
        switch self {
        case let .configuration(why): "configuration: \(why)"
        case let .source(why): "source: \(why)"
        case let .target(why): "target: \(why)"
        }
    }
}
