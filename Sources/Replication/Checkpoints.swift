import KafkaProtocol

/// An offset to commit for a group at the target, on the remote topic.
public struct TargetCommit: Sendable, Equatable {
    public var topic: String
    public var partition: PartitionIndex
    public var offset: Offset
    public var metadata: String

    public init(topic: String, partition: PartitionIndex, offset: Offset, metadata: String) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.metadata = metadata
    }
}

/// A committed source offset that produced no checkpoint, and why.
public struct UntranslatedOffset: Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        /// The link does not replicate the topic (internal, filtered out, or a cycle).
        case topicNotReplicated(ReplicationPolicy.SkipReason)
        /// No offset map for the partition (nothing mirrored yet).
        case noOffsetMap
        /// The offset is below what the map knows (older than the mirrored data, or pruned).
        case belowMirroredRange(lowest: Int64?)
        /// The offset is beyond one past the newest mirrored record: not mirrored yet.
        case aheadOfMirrored(sourceEnd: Int64?)
        /// Group, topic or metadata too long for the checkpoint record.
        case unencodable(MirrorFormatError)
    }

    /// The source partition.
    public var partition: TopicPartition
    public var committed: CommittedOffset
    public var reason: Reason
}

/// Translates consumer groups' committed source offsets into checkpoints for the target
/// (MirrorMaker 2's MirrorCheckpointTask, with exact translation).
public struct CheckpointPlan: Sendable, Equatable {
    /// Records for `<source>.checkpoints.internal` at the target, topic names already remote.
    public var checkpoints: [Checkpoint]
    /// Offsets to commit for the group at the target. Empty when the group is active there,
    /// and without the partitions where the target group is already at or past the translation
    /// (a commit never moves a target group backwards, as in MM2).
    public var commits: [TargetCommit]
    /// Committed offsets with no checkpoint (loud, never silent).
    public var untranslated: [UntranslatedOffset]

    /// Computes the plan for one group.
    /// - Parameters:
    ///   - committed: the group's committed offsets at the source (source topic names), planned
    ///     in partition order.
    ///   - offsetMap: the map of a source partition, if any.
    ///   - activeAtTarget: the group has members at the target: checkpoints only, no commits.
    ///   - targetCommitted: the group's current committed offset at the target, per remote
    ///     topic and partition (nil when none).
    public init(
        group: String, committed: [TopicPartition: CommittedOffset], policy: ReplicationPolicy,
        offsetMap: (_ topic: String, _ partition: Int32) -> OffsetMap?,
        activeAtTarget: Bool,
        targetCommitted: (_ remoteTopic: String, _ partition: Int32) -> Int64? = { _, _ in nil }
    ) {
        checkpoints = []
        commits = []
        untranslated = []
        for (source, entry) in committed.sorted(by: { $0.key < $1.key }) {
            let remoteTopic: String
            switch policy.decision(for: source.topic) {
            case let .replicate(name): remoteTopic = name
            case let .skip(reason):
                untranslated.append(
                    UntranslatedOffset(partition: source, committed: entry, reason: .topicNotReplicated(reason)))
                continue
            }
            guard let map = offsetMap(source.topic, source.partition), !map.isEmpty else {
                untranslated.append(UntranslatedOffset(partition: source, committed: entry, reason: .noOffsetMap))
                continue
            }
            guard let downstream = map.translate(entry.offset) else {
                let lowest = map.lowestTranslatable
                let reason: UntranslatedOffset.Reason =
                    lowest.map { entry.offset < $0 } ?? true
                    ? .belowMirroredRange(lowest: lowest) : .aheadOfMirrored(sourceEnd: map.sourceEnd)
                untranslated.append(UntranslatedOffset(partition: source, committed: entry, reason: reason))
                continue
            }
            let checkpoint = Checkpoint(
                group: group, topic: remoteTopic, partition: source.partition,
                upstreamOffset: entry.offset, downstreamOffset: downstream, metadata: entry.metadata)
            do {
                _ = try checkpoint.key()
                _ = try checkpoint.value()
            } catch {
                untranslated.append(
                    UntranslatedOffset(partition: source, committed: entry, reason: .unencodable(error)))
                continue
            }
            checkpoints.append(checkpoint)
            if !activeAtTarget, (targetCommitted(remoteTopic, source.partition) ?? .min) < downstream {
                commits.append(
                    TargetCommit(
                        topic: remoteTopic, partition: source.partition, offset: downstream, metadata: entry.metadata))
            }
        }
    }
}
