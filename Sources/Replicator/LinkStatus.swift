import Foundation
import KafkaClient
import KafkaProtocol
import Replication

/// The live state of one link: what each partition mirror's machine shows (its `Status` and
/// translation map, published after every step) and the link's own counters. Read by the
/// status/metrics endpoint and by the checkpoint pass. Thread-safe.
public final class LinkStatus: @unchecked Sendable {
    public let source: String
    public let target: String
    private let lock = NSLock()
    private var partitions: [TopicPartition: Published] = [:]
    /// Bumped when a source topic is retired (deleted with its remote topic): mirrors started
    /// before stop, and what they publish afterwards is ignored.
    private var generations: [String: Int] = [:]
    private var mode: String = "starting"
    /// The failover that stopped the link (its topics at the target are promoted).
    private var failover: String?
    private var lastCheckpointAt: Int64?
    /// Errors of the link's own tasks (not of a partition).
    private var errors: Int64 = 0

    private struct Published {
        var remoteTopic: String
        var status: PartitionMirrorMachine.Status
        var translationMap: OffsetMap?
    }

    public struct PartitionStatus: Sendable, Codable, Equatable {
        public var sourceTopic: String
        public var targetTopic: String
        public var partition: Int32
        /// Next source offset to mirror.
        public var mirroredOffset: Int64 = 0
        /// The source partition's high watermark at the last fetch.
        public var sourceEndOffset: Int64 = 0
        /// When the link read `sourceEndOffset` (ms since the epoch; nil before its first fetch).
        public var sourceEndSeenAtMs: Int64?
        /// Timestamp of the first record not yet mirrored (nil when caught up).
        public var oldestUnmirroredTimestamp: Int64?
        public var records: Int64 = 0
        public var bytes: Int64 = 0
        public var gaps: Int64 = 0
        public var gapOffsets: Int64 = 0
        public var duplicates: Int64 = 0
        public var loopRecordsSkipped: Int64 = 0
        public var errors: Int64 = 0
        public var lastError: String?

        public var lagRecords: Int64 { max(0, sourceEndOffset - mirroredOffset) }
    }

    public struct Snapshot: Sendable, Codable {
        public var source: String
        public var target: String
        public var mode: String
        public var checkpointAgeMs: Int64?
        /// Mode `failed-over`: the failover whose record stopped the link.
        public var failover: String?
        /// Every error of the link: its own tasks' (topic discovery, config sync, checkpoints)
        /// plus each partition's.
        public var errors: Int64
        /// The errors of the link's own tasks alone.
        public var taskErrors: Int64
        public var partitions: [PartitionStatus]
        public var lagRecords: Int64 { partitions.reduce(0) { $0 + $1.lagRecords } }
    }

    public init(source: String, target: String) {
        self.source = source
        self.target = target
    }

    func setMode(_ mode: String) { lock.withLock { self.mode = mode } }
    func failedOver(_ id: String) {
        lock.withLock {
            mode = "failed-over"
            failover = id
        }
    }
    func checkpointed(at now: Int64) { lock.withLock { lastCheckpointAt = now } }
    func linkError() { lock.withLock { errors += 1 } }

    func generation(of topic: String) -> Int { lock.withLock { generations[topic] ?? 0 } }

    /// The source topic is gone with its remote topic: its partitions' numbers and maps go too.
    func retire(_ topic: String) {
        lock.withLock {
            generations[topic, default: 0] += 1
            partitions = partitions.filter { $0.key.topic != topic }
        }
    }

    /// A partition mirror's machine after a step (ignored from a mirror of a retired topic).
    func publish(_ machine: PartitionMirrorMachine, generation: Int) {
        let configuration = machine.configuration
        let published = Published(
            remoteTopic: configuration.remoteTopic, status: machine.status,
            translationMap: machine.translationMap)
        lock.withLock {
            guard (generations[configuration.sourceTopic] ?? 0) == generation else { return }
            partitions[TopicPartition(configuration.sourceTopic, configuration.partition)] = published
        }
    }

    /// What the checkpoint pass translates a source partition's committed offsets with.
    func translationMap(for partition: TopicPartition) -> OffsetMap? {
        lock.withLock { partitions[partition]?.translationMap }
    }

    public func snapshot(now: Int64) -> Snapshot {
        lock.withLock {
            let rows = partitions.sorted { $0.key < $1.key }.map { partition, published in
                let status = published.status, counters = status.counters
                return PartitionStatus(
                    sourceTopic: partition.topic, targetTopic: published.remoteTopic, partition: partition.partition,
                    mirroredOffset: status.mirroredOffset, sourceEndOffset: status.sourceEndOffset,
                    sourceEndSeenAtMs: status.sourceEndSeenAt,
                    oldestUnmirroredTimestamp: status.oldestUnmirroredTimestamp,
                    records: counters.recordsMirrored, bytes: counters.bytesMirrored, gaps: counters.gaps,
                    gapOffsets: counters.gapOffsets, duplicates: counters.duplicates,
                    loopRecordsSkipped: counters.loopRecordsSkipped, errors: counters.errors,
                    lastError: status.lastError)
            }
            return Snapshot(
                source: source, target: target, mode: mode,
                checkpointAgeMs: lastCheckpointAt.map { now - $0 }, failover: failover,
                errors: errors + rows.reduce(0) { $0 + $1.errors }, taskErrors: errors, partitions: rows)
        }
    }
}
