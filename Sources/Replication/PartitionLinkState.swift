import KafkaProtocol

/// Source offsets that will never be mirrored: `start..<end`. Always reported, never skipped quietly.
public struct Gap: Sendable, Equatable, CustomStringConvertible {
    public enum Cause: Sendable, Equatable {
        /// Retention (or a delete-records call) removed them at the source before they were mirrored:
        /// the source's log start moved past the next offset to mirror.
        case sourceLogStartMoved
        /// The source topic was deleted and created again (its topic ID changed) before they were mirrored.
        case topicRecreated
    }

    /// The first lost source offset.
    public var start: Int64
    /// One past the last lost source offset.
    public var end: Int64
    public var cause: Cause

    public init(start: Int64, end: Int64, cause: Cause) {
        self.start = start
        self.end = end
        self.cause = cause
    }

    /// Offsets lost (an upper bound of records: compaction may have left holes in the range).
    public var count: Int64 { end - start }
    public var description: String { "gap [\(start), \(end)) (\(count) offsets, \(cause))" }
}

/// Counters of one link partition, monotonic for the life of the process.
public struct PartitionCounters: Sendable, Equatable {
    public var recordsMirrored: Int64 = 0
    public var bytesMirrored: Int64 = 0
    public var batchesMirrored: Int64 = 0
    /// Records not written because they came from the link's target (provenance loop cut).
    public var loopRecordsSkipped: Int64 = 0
    public var gaps: Int64 = 0
    public var gapOffsets: Int64 = 0
    /// Records written twice at the target: written after the last offset sync before a restart,
    /// and written again after it.
    public var duplicates: Int64 = 0
    public var topicRecreations: Int64 = 0

    public init() {}
}

/// Lag of one link partition at a moment (pure: the caller passes `now`).
public struct PartitionLag: Sendable, Equatable {
    public var sourceEndOffset: Int64
    /// The next source offset to mirror.
    public var mirroredOffset: Int64
    /// `sourceEndOffset - mirroredOffset` (offsets: with compaction, an upper bound of records).
    public var records: Int64
    /// How long the oldest unmirrored record has waited: now - its timestamp; 0 when caught up,
    /// nil when lagging and its timestamp is unknown.
    public var oldestUnmirroredAgeMs: Int64?

    public init(sourceEndOffset: Int64, mirroredOffset: Int64, records: Int64, oldestUnmirroredAgeMs: Int64?) {
        self.sourceEndOffset = sourceEndOffset
        self.mirroredOffset = mirroredOffset
        self.records = records
        self.oldestUnmirroredAgeMs = oldestUnmirroredAgeMs
    }
}

/// What one partition of a link is doing, driven by events (no I/O, no clock).
///
/// ```
/// awaitingStart --started--> mirroring --sourceOffsetsObserved(new topic id)--> mirroring (reset at 0)
/// ```
/// Events that need a position (fetched, written, sourceOffsetsObserved) before `started` are
/// refused with `.ignoredNotStarted`.
public struct PartitionLinkState: Sendable {
    public enum Phase: Sendable, Equatable {
        case awaitingStart
        case mirroring
    }

    /// A batch written at the target for this partition.
    public struct Written: Sendable, Equatable {
        /// Source offsets of the records written (from `MirrorBatchRewriter.Result`).
        public var sourceOffsets: SourceOffsets
        /// One past the last source offset the batch covered, written or not (the fetched
        /// batch's `header.nextOffset`): loop records and control batches advance the position too.
        public var sourceNextOffset: Int64
        public var bytes: Int64
        public var loopRecordsSkipped: Int

        public init(sourceOffsets: SourceOffsets, sourceNextOffset: Int64, bytes: Int64, loopRecordsSkipped: Int = 0) {
            self.sourceOffsets = sourceOffsets
            self.sourceNextOffset = sourceNextOffset
            self.bytes = bytes
            self.loopRecordsSkipped = loopRecordsSkipped
        }
    }

    public enum Event: Sendable, Equatable {
        /// The link (re)starts this partition. `resumeAt` is the next source offset to mirror (the
        /// rebuilt offset map's `sourceEnd`, or where a new link starts); `targetEndOffset` is the
        /// target partition's end offset now, and `mappedTargetEnd` the map's `targetEnd`: records
        /// between them were written after the last sync and will be written again (duplicates).
        case started(topicId: KafkaUUID, resumeAt: Int64, targetEndOffset: Int64, mappedTargetEnd: Int64?)
        /// A fetched batch spans source offsets `baseOffset...lastOffset`.
        case fetched(baseOffset: Int64, lastOffset: Int64)
        /// A batch (or a dropped control/loop-only batch, with no offsets) was written.
        case written(Written)
        /// ListOffsets/Metadata at the source: log start, end, and the topic's ID.
        case sourceOffsetsObserved(logStart: Int64, end: Int64, topicId: KafkaUUID)
    }

    public enum Action: Sendable, Equatable {
        /// Fetch the source partition from this offset.
        case fetch(from: Int64)
        /// Mirror the fetched batch, leaving out records below this offset.
        case mirror(from: Int64)
        /// The fetched batch was mirrored already: drop it.
        case discardFetched
        /// Report loudly and count.
        case reportGap(Gap)
        /// Duplicates were (or will be) written at the target.
        case reportDuplicates(Int64)
        /// Source offsets restart (topic re-created): clear the partition's offset map and emit a
        /// reset sync (`OffsetSyncEmitter.sourceReset`).
        case resetOffsetMap
        /// Offsets below this are gone at the source: `OffsetMap.prune(sourceLogStart:)`.
        case pruneOffsetMap(sourceLogStart: Int64)
        /// The event needs a started partition.
        case ignoredNotStarted
    }

    public private(set) var phase: Phase = .awaitingStart
    public private(set) var topicId: KafkaUUID?
    /// The next source offset to mirror.
    public private(set) var nextOffset: Int64 = 0
    public private(set) var sourceLogStart: Int64?
    public private(set) var sourceEndOffset: Int64?
    public private(set) var counters = PartitionCounters()
    public private(set) var lastGap: Gap?

    public init() {}

    public mutating func handle(_ event: Event) -> [Action] {
        switch (phase, event) {
        case let (_, .started(id, resumeAt, targetEnd, mappedTargetEnd)):
            phase = .mirroring
            topicId = id
            nextOffset = resumeAt
            var actions: [Action] = []
            if let mappedTargetEnd, targetEnd > mappedTargetEnd {
                counters.duplicates += targetEnd - mappedTargetEnd
                actions.append(.reportDuplicates(targetEnd - mappedTargetEnd))
            }
            actions.append(.fetch(from: resumeAt))
            return actions

        case (.awaitingStart, .fetched), (.awaitingStart, .written), (.awaitingStart, .sourceOffsetsObserved):
            return [.ignoredNotStarted]

        case let (.mirroring, .fetched(baseOffset, lastOffset)):
            if lastOffset < nextOffset { return [.discardFetched] }
            _ = baseOffset
            return [.mirror(from: nextOffset)]

        case let (.mirroring, .written(written)):
            let records = written.sourceOffsets.count
            if let first = written.sourceOffsets.ranges.first?.lowerBound, first < nextOffset {
                // Written below the position: those records were mirrored already.
                let again = written.sourceOffsets.ranges.reduce(Int64(0)) {
                    $0 + max(0, min($1.upperBound, nextOffset) - $1.lowerBound)
                }
                counters.duplicates += again
            }
            counters.recordsMirrored += records
            counters.bytesMirrored += written.bytes
            if records > 0 { counters.batchesMirrored += 1 }
            counters.loopRecordsSkipped += Int64(written.loopRecordsSkipped)
            nextOffset = max(nextOffset, written.sourceNextOffset)
            return []

        case let (.mirroring, .sourceOffsetsObserved(logStart, end, id)):
            var actions: [Action] = []
            if let known = topicId, known != id {
                // Re-created: what was not mirrored from the old topic is lost; offsets restart.
                if let oldEnd = sourceEndOffset, oldEnd > nextOffset {
                    actions.append(recordGap(Gap(start: nextOffset, end: oldEnd, cause: .topicRecreated)))
                }
                counters.topicRecreations += 1
                topicId = id
                nextOffset = logStart
                sourceLogStart = logStart
                sourceEndOffset = end
                actions.append(.resetOffsetMap)
                actions.append(.fetch(from: logStart))
                return actions
            }
            topicId = id
            sourceEndOffset = end
            if logStart > (sourceLogStart ?? .min) {
                sourceLogStart = logStart
                actions.append(.pruneOffsetMap(sourceLogStart: logStart))
            }
            if logStart > nextOffset {
                actions.append(recordGap(Gap(start: nextOffset, end: logStart, cause: .sourceLogStartMoved)))
                nextOffset = logStart
                actions.append(.fetch(from: logStart))
            }
            return actions
        }
    }

    private mutating func recordGap(_ gap: Gap) -> Action {
        counters.gaps += 1
        counters.gapOffsets += gap.count
        lastGap = gap
        return .reportGap(gap)
    }

    /// Lag now, given the timestamp of the oldest unmirrored record (the first record at
    /// `nextOffset`, when known). nil before the source end offset has been observed.
    public func lag(now: Int64, oldestUnmirroredTimestamp: Int64?) -> PartitionLag? {
        guard let end = sourceEndOffset else { return nil }
        let records = max(0, end - nextOffset)
        let age: Int64? = records == 0 ? 0 : oldestUnmirroredTimestamp.map { max(0, now - $0) }
        return PartitionLag(sourceEndOffset: end, mirroredOffset: nextOffset, records: records, oldestUnmirroredAgeMs: age)
    }
}
