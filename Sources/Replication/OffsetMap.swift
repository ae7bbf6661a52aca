import KafkaProtocol
/// A stretch of mirrored records where source and target offsets both advance by one:
/// source offsets `sourceStart..<sourceStart+length` were written at `targetStart..<targetStart+length`.
public struct OffsetRun: Sendable, Equatable, CustomStringConvertible {
    public var sourceStart: Offset
    public var targetStart: Offset
    public var length: Int64

    public init(sourceStart: Offset, targetStart: Offset, length: Int64) {
        self.sourceStart = sourceStart
        self.targetStart = targetStart
        self.length = length
    }

    /// One past the last source offset.
    public var sourceEnd: Offset { sourceStart + length }
    /// One past the last target offset.
    public var targetEnd: Offset { targetStart + length }
    public var sources: Range<Offset> { sourceStart..<sourceEnd }

    public var description: String { "[\(sourceStart)..<\(sourceEnd) -> \(targetStart)..<\(targetEnd)]" }
}

/// Exact offset translation for one mirrored partition, built from what the replicator wrote.
///
/// For every batch written at the target, ``record(_:targetBaseOffset:)`` is told the source
/// offsets of its records and the target offset the first one got (the rest follow one by one).
/// The map keeps that as ``runs``, in the order they were written.
///
/// **Invariants** (checked by `checkInvariants()` in tests):
/// 1. Every run has `length >= 1`.
/// 2. Runs are in target order and do not overlap there: `runs[i].targetEnd <= runs[i+1].targetStart`.
/// 3. Consecutive runs cannot be merged: not (`runs[i+1].sourceStart == runs[i].sourceEnd` and
///    `runs[i+1].targetStart == runs[i].targetEnd`). So a healthy link, where batch after batch
///    continues the same stretch, keeps exactly one run per partition; a new run starts only where
///    the source skips offsets (compaction, transaction markers, records cut as loops, retention
///    gaps), where the target skips offsets (other writers, markers) or where the source goes
///    back (duplicates re-mirrored after a restart). Runs may overlap in source offsets only in
///    that last case.
/// 4. `sourceFloor` is the lowest source offset the map answers for: the lowest source offset
///    ever recorded, raised by pruning, lowered again when a rewind records below it.
///
/// **Translation.** A committed offset O means "the next record to read is O". ``translate(_:)``
/// returns the target offset T such that reading the target from T reads, for every mirrored
/// source offset s >= O, its *last* copy, and T is as large as possible: T = min over mirrored
/// s >= O of (the latest target offset holding s). Without duplicates this is simply the target
/// offset of the first mirrored record with source offset >= O: no record is read twice, none is
/// skipped (source offsets in [O, s) were never mirrored: compacted, markers, loop records).
/// With duplicates it picks the newest copies, so the consumer re-reads as little as possible.
/// - nil when O is below ``sourceFloor`` (below the first mirrored record, or pruned away).
/// - O == ``sourceEnd`` (one past the newest mirrored source offset): ``targetEnd``, one past the
///   newest mirrored record; the consumer is caught up.
/// - nil when O > ``sourceEnd``: the records between have not been mirrored yet, so where they will
///   land is unknown.
public struct OffsetMap: Sendable, Equatable {
    public private(set) var runs: [OffsetRun]
    /// The lowest source offset the map answers for; offsets below it are unknown (never
    /// mirrored, pruned, or below the source's log start).
    public private(set) var sourceFloor: Offset?

    public init() {
        runs = []
        sourceFloor = nil
    }

    /// A map with these runs, as they were written. Runs that continue the previous one are merged.
    public init(runs: [OffsetRun]) {
        self.init()
        for run in runs { _ = record(sourceStart: run.sourceStart, targetStart: run.targetStart, count: run.length) }
    }

    public enum RecordResult: Sendable, Equatable {
        /// The records continue the newest run.
        case extended
        /// A new run starts.
        case newRun(NewRunReason)
        /// The target offset is below the end of the newest run: the target partition went back
        /// (truncated, re-created). Nothing recorded; the caller resets the map.
        case rejectedTargetRegressed(targetStart: Int64, targetEnd: Int64)
        /// count <= 0: nothing to record.
        case empty
    }

    public enum NewRunReason: Sendable, Equatable {
        case first
        /// Source offsets skipped (compaction, markers, loop records, retention gap).
        case sourceGap
        /// Source offset at or below one already mirrored: duplicates (restart).
        case sourceRewind
        /// Source continues but the target skipped offsets (other writers, transaction markers).
        case targetGap
    }

    /// Records `count` records with consecutive source offsets from `sourceStart` written at
    /// consecutive target offsets from `targetStart`.
    @discardableResult
    public mutating func record(sourceStart: Offset, targetStart: Offset, count: Int64) -> RecordResult {
        guard count > 0 else { return .empty }
        guard let last = runs.last else {
            runs.append(OffsetRun(sourceStart: sourceStart, targetStart: targetStart, length: count))
            sourceFloor = min(sourceFloor ?? sourceStart, sourceStart)
            return .newRun(.first)
        }
        if targetStart < last.targetEnd {
            return .rejectedTargetRegressed(targetStart: targetStart, targetEnd: last.targetEnd)
        }
        sourceFloor = min(sourceFloor ?? sourceStart, sourceStart)
        if sourceStart == last.sourceEnd && targetStart == last.targetEnd {
            runs[runs.count - 1].length += count
            return .extended
        }
        runs.append(OffsetRun(sourceStart: sourceStart, targetStart: targetStart, length: count))
        if sourceStart < last.sourceEnd { return .newRun(.sourceRewind) }
        if sourceStart > last.sourceEnd { return .newRun(.sourceGap) }
        return .newRun(.targetGap)
    }

    /// Records one written batch: its records' source offsets, and the target offset of its first
    /// record. Returns the result for each contiguous stretch (the first one tells whether the
    /// batch continued the newest run).
    @discardableResult
    public mutating func record(_ offsets: SourceOffsets, targetBaseOffset: Offset) -> [RecordResult] {
        var target = targetBaseOffset
        var results: [RecordResult] = []
        for range in offsets.ranges {
            let result = record(sourceStart: range.lowerBound, targetStart: target, count: Int64(range.count))
            results.append(result)
            if case .rejectedTargetRegressed = result { break }
            target += Int64(range.count)
        }
        return results
    }

    public var isEmpty: Bool { runs.isEmpty }
    /// One past the highest mirrored source offset.
    public var sourceEnd: Offset? { runs.lazy.map(\.sourceEnd).max() }
    /// One past the newest mirrored target offset.
    public var targetEnd: Offset? { runs.last?.targetEnd }
    /// The lowest source offset ``translate(_:)`` answers for.
    public var lowestTranslatable: Offset? { runs.isEmpty ? nil : sourceFloor }

    /// See the type's documentation.
    public func translate(_ sourceOffset: Offset) -> Offset? {
        guard let lowest = lowestTranslatable, let end = sourceEnd, sourceOffset >= lowest else { return nil }
        if sourceOffset > end { return nil }
        if sourceOffset == end { return targetEnd }
        // Newest to oldest: the part of a run not covered by newer runs holds last copies.
        // Older runs have lower target offsets, so the oldest candidate is the minimum.
        var covered = RangeUnion()
        var answer: Int64? = nil
        for run in runs.reversed() {
            let from = max(run.sourceStart, sourceOffset)
            if from < run.sourceEnd, let s = covered.firstUncovered(from: from, below: run.sourceEnd) {
                answer = run.targetStart + (s - run.sourceStart)
            }
            covered.insert(run.sources)
        }
        return answer
    }

    // MARK: Pruning

    /// Keeps at most `maxRuns` runs, dropping the oldest. `sourceFloor` rises just above every
    /// dropped source offset whose last copy is gone, so translations that remain are still exact.
    public mutating func prune(keepingAtMost maxRuns: Int) {
        precondition(maxRuns >= 0)
        guard runs.count > maxRuns else { return }
        let dropped = runs.prefix(runs.count - maxRuns)
        runs.removeFirst(runs.count - maxRuns)
        var covered = RangeUnion()
        for run in runs { covered.insert(run.sources) }
        for run in dropped {
            if let last = covered.lastUncovered(in: run.sources) { sourceFloor = max(sourceFloor ?? .min, last + 1) }
        }
    }

    /// The source's log start moved to `logStart`: offsets below it can no longer be committed
    /// meaningfully, so they become unknown, and runs entirely below it are dropped.
    public mutating func prune(sourceLogStart logStart: Offset) {
        runs.removeAll { $0.sourceEnd <= logStart }
        sourceFloor = max(sourceFloor ?? logStart, logStart)
    }

    // MARK: Offset syncs

    /// Rebuilds the map from the offset syncs of one partition, in the order they were written
    /// (as ``OffsetSyncEmitter`` emits them: at the first and last record of every run, and
    /// periodically at the newest record). Two consecutive syncs whose source and target offsets
    /// advance by the same amount are taken as one run (the records between were mirrored one by
    /// one); any other step starts a new run. A sync whose target offset is below the previous
    /// sync's starts the map again (the target partition was re-created), and so does a sync with
    /// a negative upstream offset (the reset marker ``OffsetSyncEmitter/sourceReset(targetEndOffset:)``
    /// writes when the source topic was re-created).
    ///
    /// Exact as long as the runs were: the only ambiguity is a source gap followed by a target gap
    /// of exactly the same size between two syncs, which cannot happen when the replicator is the
    /// target partition's only writer (prefix naming) and writes no transaction markers.
    /// The newest run ends at the newest sync: records mirrored after it are unknown.
    public init(rebuiltFrom syncs: some Sequence<OffsetSync>) {
        self.init()
        var previous: OffsetSync? = nil
        for sync in syncs {
            if sync.upstreamOffset < 0 {
                // Reset marker (OffsetSyncEmitter.sourceReset): the source topic was re-created.
                runs = []
                sourceFloor = nil
                previous = nil
                continue
            }
            defer { previous = sync }
            guard let last = previous, !runs.isEmpty else {
                runs = [OffsetRun(sourceStart: sync.upstreamOffset, targetStart: sync.downstreamOffset, length: 1)]
                sourceFloor = sync.upstreamOffset
                continue
            }
            let sourceStep = sync.upstreamOffset - last.upstreamOffset
            let targetStep = sync.downstreamOffset - last.downstreamOffset
            if targetStep < 0 {
                runs = [OffsetRun(sourceStart: sync.upstreamOffset, targetStart: sync.downstreamOffset, length: 1)]
                sourceFloor = sync.upstreamOffset
            } else if targetStep == 0 {
                continue  // the same sync again (re-emitted after a restart)
            } else if sourceStep == targetStep {
                runs[runs.count - 1].length += targetStep
            } else {
                runs.append(OffsetRun(sourceStart: sync.upstreamOffset, targetStart: sync.downstreamOffset, length: 1))
                sourceFloor = min(sourceFloor ?? sync.upstreamOffset, sync.upstreamOffset)
            }
        }
    }

    /// Checks the invariants; returns the first violation.
    public func checkInvariants() -> String? {
        for (index, run) in runs.enumerated() {
            if run.length < 1 { return "run \(index) \(run) is empty" }
            guard index > 0 else { continue }
            let before = runs[index - 1]
            if before.targetEnd > run.targetStart { return "run \(index) \(run) overlaps \(before) in target" }
            if before.sourceEnd == run.sourceStart && before.targetEnd == run.targetStart {
                return "run \(index) \(run) should have merged into \(before)"
            }
        }
        return nil
    }
}

/// Emits the offset syncs that let ``OffsetMap/init(rebuiltFrom:)`` rebuild a partition's map:
/// one at the first record of every run, one at the last record of a run when the next run
/// starts, and one at the newest record at least every `maxRecordsBetweenSyncs` records or
/// `maxIntervalMs` milliseconds (so that a restart loses little of the newest run).
public struct OffsetSyncEmitter: Sendable {
    public var topic: String
    public var partition: PartitionIndex
    public var maxRecordsBetweenSyncs: Int64
    public var maxIntervalMs: Int64

    /// The newest mirrored record (source, target), and whether a sync says so already.
    private var newest: (source: Int64, target: Int64)?
    private var newestSynced = true
    private var recordsSinceSync: Int64 = 0
    private var lastSyncTime: Int64?

    public init(
        topic: String, partition: PartitionIndex, maxRecordsBetweenSyncs: Int64 = 10_000, maxIntervalMs: Int64 = 10_000
    ) {
        self.topic = topic
        self.partition = partition
        self.maxRecordsBetweenSyncs = maxRecordsBetweenSyncs
        self.maxIntervalMs = maxIntervalMs
    }

    /// A batch was written: its records' source offsets, its first record's target offset.
    public mutating func written(_ offsets: SourceOffsets, targetBaseOffset: Int64, now: Int64) -> [OffsetSync] {
        var syncs: [OffsetSync] = []
        var target = targetBaseOffset
        for range in offsets.ranges {
            let continues = newest.map { range.lowerBound == $0.source + 1 && target == $0.target + 1 } ?? false
            if !continues {
                if !newestSynced, let newest { syncs.append(sync(newest.source, newest.target)) }
                syncs.append(sync(range.lowerBound, target))
                recordsSinceSync = 0
            }
            let count = Int64(range.count)
            newest = (range.upperBound - 1, target + count - 1)
            newestSynced = count == 1 && !continues
            recordsSinceSync += continues ? count : count - 1
            target += count
        }
        if !syncs.isEmpty { lastSyncTime = now }
        syncs += tick(now: now)
        return syncs
    }

    /// Emits the newest record if a sync is due (call it periodically, with the current time).
    public mutating func tick(now: Int64) -> [OffsetSync] {
        guard !newestSynced, newest != nil else { return [] }
        let due = recordsSinceSync >= maxRecordsBetweenSyncs || now - (lastSyncTime ?? .min / 2) >= maxIntervalMs
        return due ? flushNewest(now: now) : []
    }

    /// The source topic was re-created: its offsets restart. Emits the reset marker, upstream
    /// offset -1 at the target's end offset, so that a rebuild forgets the old topic's runs.
    /// (MirrorMaker 2 reading it translates conservatively until the next sync.)
    public mutating func sourceReset(targetEndOffset: Int64, now: Int64) -> [OffsetSync] {
        newest = nil
        newestSynced = true
        recordsSinceSync = 0
        lastSyncTime = now
        return [sync(-1, targetEndOffset)]
    }

    /// Emits the newest record if no sync says so yet (on shutdown).
    public mutating func flush(now: Int64) -> [OffsetSync] {
        flushNewest(now: now)
    }

    private mutating func flushNewest(now: Int64) -> [OffsetSync] {
        guard !newestSynced, let newest else { return [] }
        newestSynced = true
        recordsSinceSync = 0
        lastSyncTime = now
        return [sync(newest.source, newest.target)]
    }

    private func sync(_ source: Int64, _ target: Int64) -> OffsetSync {
        OffsetSync(topic: topic, partition: partition, upstreamOffset: source, downstreamOffset: target)
    }
}

/// A sorted union of disjoint, non-adjacent ranges.
struct RangeUnion {
    private(set) var ranges: [Range<Int64>] = []

    mutating func insert(_ range: Range<Int64>) {
        guard !range.isEmpty else { return }
        var lower = range.lowerBound
        var upper = range.upperBound
        var kept: [Range<Int64>] = []
        kept.reserveCapacity(ranges.count + 1)
        var inserted = false
        for existing in ranges {
            if existing.upperBound < lower {
                kept.append(existing)
            } else if existing.lowerBound > upper {
                if !inserted { kept.append(lower..<upper); inserted = true }
                kept.append(existing)
            } else {
                lower = min(lower, existing.lowerBound)
                upper = max(upper, existing.upperBound)
            }
        }
        if !inserted { kept.append(lower..<upper) }
        ranges = kept
    }

    /// The smallest x in `from..<below` not in the union.
    func firstUncovered(from: Int64, below: Int64) -> Int64? {
        var x = from
        for range in ranges where range.upperBound > x {
            if range.lowerBound <= x { x = range.upperBound } else { break }
        }
        return x < below ? x : nil
    }

    /// The largest x in `range` not in the union.
    func lastUncovered(in range: Range<Int64>) -> Int64? {
        var x = range.upperBound - 1
        for existing in ranges.reversed() where existing.lowerBound <= x {
            if existing.upperBound > x { x = existing.lowerBound - 1 } else { break }
        }
        return x >= range.lowerBound ? x : nil
    }
}
