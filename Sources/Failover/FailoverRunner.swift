import Foundation
import KafkaClient
import KafkaProtocol
import Logging
import Observability
import Replication
import Replicator
import Topology

/// What `strait failover` was asked to do.
public struct FailoverOptions: Sendable {
    public var to: String
    /// The old primary, when more than one link writes into `to`.
    public var from: String?
    public var kind: FailoverKind
    public var drainTimeoutMs: Int64 = 60_000
    public var quietPeriodMs: Int64 = 5_000
    /// How long the link's stop is awaited at the replicator's status address.
    public var linkStopTimeoutMs: Int64?
    public var statusTimeout: TimeInterval = 2

    public init(to: String, from: String? = nil, kind: FailoverKind) {
        self.to = to
        self.from = from
        self.kind = kind
    }
}

/// What a failover would do, read from the topology and the clusters (nothing changed).
public struct FailoverPlan: Sendable {
    public var configuration: FailoverMachine.Configuration
    public var link: Link
    /// Where the topology's replicator serves `/status`.
    public var statusURL: URL
    /// Whether the primary answered while planning.
    public var primaryAnswered: Bool

    /// Every step and what it will do, for `--dry-run` and the log.
    public var description: String {
        let c = configuration
        let topics = Set(c.partitions.map(\.sourceTopic)).sorted()
        let remote = Set(c.partitions.map(\.targetTopic)).sorted()
        var lines = [
            "failover \(c.id): \(c.kind.rawValue), \(c.from) → \(c.to), link offsets \(c.offsets.rawValue), \(c.partitions.count) partitions of \(topics.count) topics"
        ]
        for (number, step) in FailoverStep.steps(c.kind).enumerated() {
            let what: String =
                switch step {
                case .checkPrevious:
                    "read \(FailoverStore.topic) at \(c.to): refuse if a failover \(c.from) → \(c.to) stands there"
                case .fence:
                    "set strait.fenced on \(topics.joined(separator: ", ")) at \(c.from) (a cluster that refuses it: wait until its producers are stopped and its end offsets stay unchanged for \(c.quietPeriodMs) ms)"
                case .drain:
                    "until every mirror at \(c.to) holds \(c.from)'s end offset, for at most \(c.drainTimeoutMs) ms; a drain that times out lifts the fence and changes nothing"
                case .finalGroupSync:
                    "commit the committed offsets of \(c.from)'s groups (the link's group filter), translated, at \(c.to)"
                case .assessLoss:
                    "read the last source end offsets the link saw (\(statusURL)) against what \(c.to) holds: the records that may be lost"
                case .promote:
                    c.offsets == .preserve
                        ? "delete strait.mirror.source on \(remote.joined(separator: ", ")) at \(c.to): producers may write"
                        : "nothing at \(c.to) (translate mode writes ordinary topics); the record below stops the link"
                case .record:
                    "write the failover point of every partition to \(FailoverStore.topic) at \(c.to)"
                case .stopLink:
                    "wait until the link \(c.from) → \(c.to) reports failed-over at \(statusURL)"
                }
            lines.append("  \(number + 1). \(step.rawValue): \(what)")
        }
        return lines.joined(separator: "\n")
    }
}

public struct FailoverError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a `FailoverMachine` against a topology's clusters: performs each action with the Kafka
/// client and reports the outcome back as the next event.
public final class FailoverRunner: Sendable {
    let topology: Topology
    let options: FailoverOptions
    let logger: Logger
    let progress: @Sendable (String) -> Void

    public init(
        topology: Topology, options: FailoverOptions, logger: Logger,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.topology = topology
        self.options = options
        self.logger = logger
        self.progress = progress
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// The link into `options.to` the failover reverses.
    func link() throws -> Link {
        guard topology.sites.contains(where: { $0.name == options.to }) else {
            throw FailoverError("\(topology.file): no site named \(options.to)")
        }
        let into = topology.links.filter {
            $0.target == options.to && (options.from == nil || $0.source == options.from)
        }
        guard let link = into.first else {
            throw FailoverError(
                "\(topology.file): no link writes into \(options.to)\(options.from.map { " from \($0)" } ?? ""): nothing to fail over to it"
            )
        }
        guard into.count == 1 else {
            throw FailoverError(
                "\(topology.file): links from \(into.map(\.source).joined(separator: ", ")) write into \(options.to); say which site fails with --from"
            )
        }
        return link
    }

    func cluster(_ siteName: String) throws -> KafkaCluster {
        guard let site = topology.sites.first(where: { $0.name == siteName }) else {
            throw FailoverError("\(topology.file): no site named \(siteName)")
        }
        var configuration = try topology.clientConfiguration(for: site)
        configuration.clientId = "strait-failover"
        return try KafkaCluster(
            bootstrap: site.bootstrapServers.joined(separator: ","), configuration: configuration, logger: logger)
    }

    var statusURL: URL { StatusClient.url(host: topology.statusAddress.host, port: topology.statusAddress.port) }

    /// The link's snapshot at the replicator's status address, or why there is none.
    func linkSnapshot(_ link: Link) async -> Result<LinkStatus.Snapshot, FailoverError> {
        do {
            let (_, links) = try await StatusClient.fetch(statusURL, timeout: options.statusTimeout)
            guard let snapshot = links.first(where: { $0.source == link.source && $0.target == link.target }) else {
                return .failure(
                    FailoverError("the replicator at \(statusURL) runs no link \(link.source) → \(link.target)"))
            }
            return .success(snapshot)
        } catch {
            return .failure(FailoverError("\(error)"))
        }
    }

    /// Reads what the failover needs to know before it changes anything.
    public func plan() async throws -> FailoverPlan {
        let link = try link()
        let target = try cluster(link.target)
        defer { Task { await target.close() } }
        let policy = link.replicationPolicy
        let snapshot = try? await linkSnapshot(link).get()
        var partitions: Set<FailoverPartition> = []
        var primaryAnswered = false
        if options.kind == .planned {
            let source = try cluster(link.source)
            defer { Task { await source.close() } }
            let metadata: ClusterMetadata
            do {
                metadata = try await source.refreshMetadata(topics: nil)
            } catch {
                throw FailoverError(
                    "the primary \(link.source) does not answer (\(error)): a planned failover needs it; if it is gone, run the failover with --unplanned"
                )
            }
            primaryAnswered = true
            for (name, topic) in metadata.topics where !topic.isInternal && topic.error == .none {
                guard case let .replicate(remote) = policy.decision(for: name) else { continue }
                for partition in topic.partitions {
                    partitions.insert(
                        FailoverPartition(sourceTopic: name, targetTopic: remote, partition: partition.partition))
                }
            }
        } else {
            for row in snapshot?.partitions ?? [] {
                partitions.insert(
                    FailoverPartition(
                        sourceTopic: row.sourceTopic, targetTopic: row.targetTopic, partition: row.partition))
            }
        }
        // Only what exists at the new primary can be promoted; the unplanned case learns the
        // partitions from there when the replicator's status is not available.
        let targetMetadata = try await target.refreshMetadata(topics: nil)
        let mirrorConfigs = try await mirrorSources(target, topics: Array(targetMetadata.topics.keys))
        if options.kind == .unplanned && snapshot == nil {
            for (name, topic) in targetMetadata.topics where !topic.isInternal && topic.error == .none {
                let upstream: String? =
                    switch link.naming {
                    case .identity: name
                    case .prefix: policy.originSite(of: name) == link.source ? policy.upstreamTopic(of: name) : nil
                    }
                guard let upstream, policy.decision(for: upstream) == .replicate(remoteTopic: name) else { continue }
                // A mirror topic of another source is not this link's.
                if let origin = mirrorConfigs[name], origin != link.source { continue }
                for partition in topic.partitions {
                    partitions.insert(
                        FailoverPartition(sourceTopic: upstream, targetTopic: name, partition: partition.partition))
                }
            }
        }
        let existing = partitions.filter { wanted in
            targetMetadata.topics[wanted.targetTopic]?.partitions.contains { $0.partition == wanted.partition } ?? false
        }
        let offsets: WriteMode = existing.contains { mirrorConfigs[$0.targetTopic] != nil } ? .preserve : .translate
        let stamp = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false))
            .replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        let configuration = FailoverMachine.Configuration(
            id: "\(topology.name)-\(link.source)-to-\(link.target)-\(stamp)", topology: topology.name,
            from: link.source, to: link.target, kind: options.kind, offsets: offsets, partitions: Array(existing),
            drainTimeoutMs: options.drainTimeoutMs, quietPeriodMs: options.quietPeriodMs)
        return FailoverPlan(
            configuration: configuration, link: link, statusURL: statusURL, primaryAnswered: primaryAnswered)
    }

    /// `strait.mirror.source` of each topic that has it.
    func mirrorSources(_ cluster: KafkaCluster, topics: [String]) async throws -> [String: String] {
        let described = try await cluster.describeTopicConfigs(topics.filter { !$0.hasPrefix("__") })
        var sources: [String: String] = [:]
        for (topic, result) in described {
            if case let .success(entries) = result, let value = entries["strait.mirror.source"]?.value {
                sources[topic] = value
            }
        }
        return sources
    }

    /// Runs the plan to its end: the report, or a `FailoverError` saying what happened.
    public func run(_ plan: FailoverPlan) async throws -> FailoverReport {
        var machine = FailoverMachine(plan.configuration)
        let target = try cluster(plan.link.target)
        let source = try cluster(plan.link.source)
        defer {
            Task {
                await target.close()
                await source.close()
            }
        }
        let context = Context(runner: self, plan: plan, source: source, target: target)
        var action = machine.handle(
            .started(
                now: Self.now(),
                previous: try await FailoverStore.standing(from: plan.link.source, to: plan.link.target, at: target)))
        while true {
            logger.debug("failover action", metadata: ["action": "\(action)", "step": "\(machine.step.rawValue)"])
            switch action {
            case let .refuse(why):
                throw FailoverError(why)
            case let .fail(why):
                throw FailoverError(why)
            case let .unfenceAndFail(why):
                await context.unfence()
                throw FailoverError(why)
            case let .finish(report):
                return report
            default:
                progress(describe(action, plan))
                action = machine.handle(await context.perform(action, step: machine.step))
            }
        }
    }

    func describe(_ action: FailoverMachine.Action, _ plan: FailoverPlan) -> String {
        let c = plan.configuration
        return switch action {
        case .fence: "fencing \(c.from)'s producers"
        case .readPositions(let after): after == 0 ? "reading positions" : ""
        case .syncGroups: c.kind == .planned ? "final group offset sync" : "reading group offsets at \(c.to)"
        case .promote: "promoting \(c.to)"
        case .writeRecord: "recording the failover point at \(c.to)"
        case .confirmLinkStopped: "waiting for the link \(c.from) → \(c.to) to stop"
        default: ""
        }
    }
}

/// The I/O of each action (one failover).
private struct Context {
    let runner: FailoverRunner
    let plan: FailoverPlan
    let source: KafkaCluster
    let target: KafkaCluster

    var configuration: FailoverMachine.Configuration { plan.configuration }
    var sourceTopics: [String] { Set(configuration.partitions.map(\.sourceTopic)).sorted() }
    var targetTopics: [String] { Set(configuration.partitions.map(\.targetTopic)).sorted() }

    func perform(_ action: FailoverMachine.Action, step: FailoverStep) async -> FailoverMachine.Event {
        do {
            switch action {
            case .fence: return try await fence()
            case let .readPositions(afterMs):
                if afterMs > 0 { try await Task.sleep(for: .milliseconds(afterMs)) }
                return .positionsRead(now: FailoverRunner.now(), try await positions(step: step))
            case .syncGroups: return .groupsSynced(now: FailoverRunner.now(), try await syncGroups())
            case .promote:
                if configuration.offsets == .preserve {
                    for topic in targetTopics {
                        try await target.incrementalAlterTopicConfigs(topic, delete: ["strait.mirror.source"])
                    }
                }
                return .promoted(now: FailoverRunner.now())
            case let .writeRecord(record):
                try await FailoverStore.write(record, at: target)
                return .recorded(now: FailoverRunner.now())
            case .confirmLinkStopped: return await confirmLinkStopped()
            case .refuse, .fail, .unfenceAndFail, .finish:
                return .stepFailed(now: FailoverRunner.now(), step, message: "not an I/O action: \(action)")
            }
        } catch {
            return .stepFailed(now: FailoverRunner.now(), step, message: "\(error)")
        }
    }

    var fenceValue: String { "failover \(configuration.id) to \(configuration.to)" }

    func fence() async throws -> FailoverMachine.Event {
        for topic in sourceTopics {
            do {
                try await source.incrementalAlterTopicConfigs(topic, set: ["strait.fenced": fenceValue])
            } catch let KafkaClientError.broker(code, message, _)
                where code == .invalidConfig || code == .invalidRequest
            {
                // Apache Kafka knows no such config ("Unknown topic config name").
                let reason = "\(code): \(message ?? "no message")"
                if topic != sourceTopics.first { await unfence() }
                return .fenceUnsupported(now: FailoverRunner.now(), reason: reason)
            }
        }
        return .fenced(now: FailoverRunner.now())
    }

    /// Lifts the fence (a drain that did not finish); failures are logged, not thrown.
    func unfence() async {
        for topic in sourceTopics {
            do {
                try await source.incrementalAlterTopicConfigs(topic, delete: ["strait.fenced"])
            } catch {
                runner.logger.error("cannot lift the fence", metadata: ["topic": "\(topic)", "error": "\(error)"])
            }
        }
    }

    func positions(step: FailoverStep) async throws -> FailoverMachine.Positions {
        let targetEnds = try await target.listOffsets(Set(configuration.partitions.map(\.target)), spec: .latest)
        var targetEnd: [FailoverPartition: Offset] = [:]
        for partition in configuration.partitions {
            if let listed = try? targetEnds[partition.target]?.get() { targetEnd[partition] = listed.offset }
        }
        let snapshot = try? await runner.linkSnapshot(plan.link).get()
        var mirrored: [FailoverPartition: Offset] = [:]
        if configuration.offsets == .preserve {
            mirrored = targetEnd
        } else if let snapshot {
            for row in snapshot.partitions {
                let partition = FailoverPartition(
                    sourceTopic: row.sourceTopic, targetTopic: row.targetTopic, partition: row.partition)
                mirrored[partition] = row.mirroredOffset
            }
        }
        var sourceEnd: [FailoverPartition: SeenEndOffset] = [:]
        if step == .drain {
            let now = FailoverRunner.now()
            let ends = try await source.listOffsets(Set(configuration.partitions.map(\.source)), spec: .latest)
            for partition in configuration.partitions {
                if let listed = try? ends[partition.source]?.get() {
                    sourceEnd[partition] = SeenEndOffset(offset: listed.offset, atMs: now)
                }
            }
        } else if let snapshot {
            for row in snapshot.partitions {
                guard let seenAt = row.sourceEndSeenAtMs else { continue }
                let partition = FailoverPartition(
                    sourceTopic: row.sourceTopic, targetTopic: row.targetTopic, partition: row.partition)
                sourceEnd[partition] = SeenEndOffset(offset: row.sourceEndOffset, atMs: seenAt)
            }
        }
        return FailoverMachine.Positions(sourceEnd: sourceEnd, mirrored: mirrored, targetEnd: targetEnd)
    }

    /// Planned: the primary's committed offsets, translated (preserve: the same numbers) and
    /// committed at the new primary. Both: what each group resumes from there.
    func syncGroups() async throws -> [GroupResume] {
        let policy = plan.link.replicationPolicy
        var groups: Set<String> = []
        if configuration.kind == .planned {
            let maps = configuration.offsets == .translate ? try await offsetMaps() : [:]
            let listed = try await source.listGroups().map(\.groupId).filter { policy.shouldReplicateGroup($0) }
            for group in listed {
                let committed = try await source.fetchCommittedOffsets(group: group)
                    .filter { entry in configuration.partitions.contains { $0.source == entry.key } }
                guard !committed.isEmpty else { continue }
                groups.insert(group)
                let description = try? await target.describeGroup(group)
                let active = description.map { !$0.members.isEmpty } ?? false
                let targetCommitted = (try? await target.fetchCommittedOffsets(group: group)) ?? [:]
                let plan = CheckpointPlan(
                    group: group, committed: committed, policy: policy,
                    offsetMap: { topic, partition in
                        let partition = TopicPartition(topic, partition)
                        if configuration.offsets == .translate { return maps[partition] }
                        // Preserve: the same offsets at both sites, up to the mirrored end.
                        let end = committed[partition]?.offset ?? 0
                        return OffsetMap(runs: [OffsetRun(sourceStart: 0, targetStart: 0, length: max(end, 1))])
                    },
                    activeAtTarget: active,
                    targetCommitted: { remote, partition in targetCommitted[TopicPartition(remote, partition)]?.offset }
                )
                if active {
                    runner.logger.warning(
                        "group has members at the new primary: its offsets there are left alone",
                        metadata: ["group": "\(group)"])
                }
                guard !plan.commits.isEmpty else { continue }
                var offsets: [TopicPartition: CommittedOffset] = [:]
                for commit in plan.commits {
                    offsets[TopicPartition(commit.topic, commit.partition)] = CommittedOffset(
                        offset: commit.offset, metadata: commit.metadata)
                }
                let errors = try await target.commitOffsets(group: group, offsets: offsets)
                if let refused = errors.first(where: { $0.value != .none }) {
                    throw FailoverError(
                        "committing \(group)'s offsets at \(configuration.to) failed: \(refused.key) \(refused.value)")
                }
            }
        } else {
            groups = Set(try await target.listGroups().map(\.groupId).filter { policy.shouldReplicateGroup($0) })
        }
        var resumes: [GroupResume] = []
        let targets = Set(configuration.partitions.map(\.target))
        for group in groups.sorted() {
            let committed = try await target.fetchCommittedOffsets(group: group)
            for (partition, offset) in committed.sorted(by: { $0.key < $1.key }) where targets.contains(partition) {
                resumes.append(
                    GroupResume(
                        group: group, topic: partition.topic, partition: partition.partition, offset: offset.offset))
            }
        }
        return resumes
    }

    /// Translate mode: every partition's offset map, rebuilt from the link's offset syncs at the primary.
    func offsetMaps() async throws -> [TopicPartition: OffsetMap] {
        var byPartition: [TopicPartition: [OffsetSync]] = [:]
        for (key, value) in try await source.readBookkeepingTopic(
            MirrorTopics.offsetSyncs(targetAlias: configuration.to))
        {
            guard let key, let value, let sync = try? OffsetSync(key: key, value: value) else { continue }
            byPartition[TopicPartition(sync.topic, sync.partition), default: []].append(sync)
        }
        return byPartition.mapValues { OffsetMap(rebuiltFrom: $0) }
    }

    func confirmLinkStopped() async -> FailoverMachine.Event {
        let timeout = runner.options.linkStopTimeoutMs ?? (2 * plan.link.refreshIntervalMs + 5_000)
        let deadline = FailoverRunner.now() + timeout
        var last = "no answer yet"
        while FailoverRunner.now() < deadline {
            switch await runner.linkSnapshot(plan.link) {
            case let .success(snapshot):
                if snapshot.mode == "failed-over" { return .linkStopped(now: FailoverRunner.now()) }
                last = "the link is still \(snapshot.mode) after \(timeout) ms"
            case let .failure(error):
                // No replicator answering means none is writing: nothing to wait for.
                return .linkStopUnconfirmed(now: FailoverRunner.now(), reason: error.description)
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return .linkStopUnconfirmed(now: FailoverRunner.now(), reason: last)
    }
}
