import Foundation
import Replication

/// The live numbers of one link, per partition, shared by the partition mirrors (writers) and
/// the status/metrics endpoint (reader). Thread-safe.
public final class LinkStatus: @unchecked Sendable {
    public let source: String
    public let target: String
    private let lock = NSLock()
    private var partitions: [String: PartitionStatus] = [:]
    private var mode: String = "starting"
    private var lastCheckpointAt: Int64?
    /// Errors of the link's own tasks (not of a partition).
    private var errors: Int64 = 0

    public struct PartitionStatus: Sendable, Codable, Equatable {
        public var sourceTopic: String
        public var targetTopic: String
        public var partition: Int32
        /// Next source offset to mirror.
        public var mirroredOffset: Int64 = 0
        /// The source partition's high watermark at the last fetch.
        public var sourceEndOffset: Int64 = 0
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
    func checkpointed(at now: Int64) { lock.withLock { lastCheckpointAt = now } }
    func linkError() { lock.withLock { errors += 1 } }

    func update(_ key: String, default initial: @autoclosure () -> PartitionStatus, _ change: (inout PartitionStatus) -> Void) {
        lock.withLock {
            var status = partitions[key] ?? initial()
            change(&status)
            partitions[key] = status
        }
    }

    public func snapshot(now: Int64) -> Snapshot {
        lock.withLock {
            Snapshot(source: source, target: target, mode: mode,
                     checkpointAgeMs: lastCheckpointAt.map { now - $0 },
                     errors: errors + partitions.values.reduce(0) { $0 + $1.errors }, taskErrors: errors,
                     partitions: partitions.values.sorted { ($0.sourceTopic, $0.partition) < ($1.sourceTopic, $1.partition) })
        }
    }
}
