import Foundation
import KafkaRecords
import Logging
import NIOCore
import KafkaProtocol

/// Settings of one compaction pass (the Kafka topic configs of the same names).
public struct CompactionOptions: Sendable, Equatable {
    /// How long a tombstone stays readable after the pass that first kept it in a cleaned segment.
    public var deleteRetentionMs: Int64
    /// A segment is cleaned only once its newest record is at least this old.
    public var minCompactionLagMs: Int64
    /// A dirty segment whose newest record is older than this is cleaned whatever the dirty ratio.
    public var maxCompactionLagMs: Int64
    /// Clean when the dirty bytes are at least this fraction of the cleanable bytes.
    public var minCleanableDirtyRatio: Double

    public init(
        deleteRetentionMs: Int64 = 86_400_000, minCompactionLagMs: Int64 = 0,
        maxCompactionLagMs: Int64 = Int64.max, minCleanableDirtyRatio: Double = 0.5
    ) {
        self.deleteRetentionMs = deleteRetentionMs
        self.minCompactionLagMs = minCompactionLagMs
        self.maxCompactionLagMs = maxCompactionLagMs
        self.minCleanableDirtyRatio = minCleanableDirtyRatio
    }
}

/// What one compaction pass did (for logging). Record and byte counts cover every segment the
/// pass looked at, rewritten or not.
public struct CompactionResult: Sendable, Equatable, CustomStringConvertible {
    /// Closed segments in the cleanable range.
    public var segmentsScanned = 0
    /// Segments replaced by a cleaned copy.
    public var segmentsRewritten = 0
    /// Segments left with no batch and deleted (never the first segment of the log).
    public var segmentsRemoved = 0
    /// Segments deleted by retention or DeleteRecords while they were being cleaned.
    public var segmentsSkipped = 0
    public var recordsBefore = 0
    public var recordsAfter = 0
    public var bytesBefore: Int64 = 0
    public var bytesAfter: Int64 = 0
    /// Tombstones dropped because their delete horizon had passed.
    public var tombstonesRemoved = 0
    /// Distinct keys in the cleanable range.
    public var keys = 0
    /// The first offset the pass did not clean (the active segment's or the first too-young
    /// segment's base offset); nil when there was nothing to clean.
    public var cleanedUpTo: Offset?
    /// The earliest delete horizon of a tombstone still kept: a pass after it removes it.
    public var nextTombstoneDeadline: Int64?

    public init() {}

    public var description: String {
        "scanned \(segmentsScanned) segments (rewrote \(segmentsRewritten), removed \(segmentsRemoved), skipped \(segmentsSkipped)), "
            + "records \(recordsBefore) -> \(recordsAfter), bytes \(bytesBefore) -> \(bytesAfter), "
            + "\(tombstonesRemoved) tombstones removed, \(keys) keys"
    }
}

extension FileLog {
    // MARK: Scheduling

    /// The closed segments compaction may clean: from the oldest, every segment but the active
    /// one, stopping at the first whose newest record is younger than min.compaction.lag.ms.
    /// Callers hold `stateLock`.
    private func cleanableSegments(now: Int64, options: CompactionOptions) -> ArraySlice<Segment> {
        var count = 0
        for segment in segments.dropLast() {
            if options.minCompactionLagMs > 0, now - segment.largestTimestamp < options.minCompactionLagMs { break }
            count += 1
        }
        return segments[..<count]
    }

    public func compactionDue(now: Int64, options: CompactionOptions) -> Bool {
        stateLock.lock()
        defer { stateLock.unlock() }
        guard !isClosed else { return false }
        let cleanable = cleanableSegments(now: now, options: options)
        guard !cleanable.isEmpty else { return false }
        if let deadline = tombstoneDeadline, now >= deadline { return true }
        let checkpoint = cleanerCheckpoint ?? Int64.min
        let dirty = cleanable.filter { $0.baseOffset >= checkpoint && $0.size > 0 }
        guard !dirty.isEmpty else { return false }
        let dirtyBytes = dirty.reduce(Int64(0)) { $0 + $1.size }
        let totalBytes = cleanable.reduce(Int64(0)) { $0 + $1.size }
        if Double(dirtyBytes) >= options.minCleanableDirtyRatio * Double(totalBytes) { return true }
        return dirty.contains { now - $0.largestTimestamp > options.maxCompactionLagMs }
    }

    // MARK: Cleaning

    public func compact(now: Int64, options: CompactionOptions) throws(LogError) -> CompactionResult {
        compactionLock.lock()
        defer { compactionLock.unlock() }
        stateLock.lock()
        if isClosed {
            stateLock.unlock()
            throw .closed
        }
        // Closed segments never change again (only compaction rewrites them, and only this
        // thread compacts), so their committed sizes can be read without the lock afterwards.
        let cleanable = cleanableSegments(now: now, options: options).map { ($0, $0.size) }
        let cleanedUpTo = segments[cleanable.count].baseOffset
        let indexIntervalBytes = currentConfig.indexIntervalBytes
        stateLock.unlock()

        var result = CompactionResult()
        guard !cleanable.isEmpty else { return result }
        result.segmentsScanned = cleanable.count
        result.cleanedUpTo = cleanedUpTo

        // 1. Key -> offset of its latest record in the cleanable range.
        var latest: [[UInt8]: Int64] = [:]
        for (segment, size) in cleanable {
            try forEachBatch(of: segment, size: size) { batch throws(LogError) in
                guard !batch.header.isControl else { return }
                let records = try Self.locateRecords(batch, segment: segment)
                for entry in records.entries {
                    if let key = entry.key { latest[key] = batch.header.baseOffset + Int64(entry.offsetDelta) }
                }
            }
        }
        result.keys = latest.count

        // 2. Rewrite each segment that loses something, oldest first, and swap it in. A failure
        // stops the pass: later segments may hold the tombstones that justify earlier removals.
        let horizon =
            now.addingReportingOverflow(options.deleteRetentionMs).overflow
            ? Int64.max : now + options.deleteRetentionMs
        var deadline: Int64?
        for (segment, size) in cleanable {
            result.bytesBefore += size
            var writer: CleanedSegmentWriter?
            /// End of the batches kept unchanged before the first change (copied when it comes).
            var unchangedEnd: Int64 = 0
            var kept = 0
            do throws(LogError) {
                try forEachBatch(of: segment, size: size) { batch throws(LogError) in
                    var output: StoredBatch? = batch
                    if !batch.header.isControl {
                        let records = try Self.locateRecords(batch, segment: segment)
                        var keep: [Int] = []
                        var keepsTombstone = false
                        for (index, entry) in records.entries.enumerated() {
                            guard let key = entry.key, latest[key] == batch.header.baseOffset + Int64(entry.offsetDelta)
                            else { continue }
                            if entry.isTombstone {
                                if let stamped = records.deleteHorizon, now >= stamped {
                                    result.tombstonesRemoved += 1
                                    continue
                                }
                                keepsTombstone = true
                            }
                            keep.append(index)
                        }
                        result.recordsBefore += records.entries.count
                        result.recordsAfter += keep.count
                        if keep.isEmpty {
                            output = nil
                        } else {
                            do throws(RecordBatchError) {
                                output = try records.rebuilt(
                                    keeping: keep, deleteHorizon: keepsTombstone ? horizon : nil)
                            } catch {
                                throw .storage(
                                    "compacting \(segment.description): batch at offset \(batch.header.baseOffset): \(error)"
                                )
                            }
                            if keepsTombstone, let stamped = output?.header.baseTimestamp {
                                deadline = min(deadline ?? stamped, stamped)
                            }
                        }
                    }
                    let unchanged = output.map { $0.header == batch.header } ?? false
                    if writer == nil {
                        if unchanged {
                            unchangedEnd += Int64(batch.header.totalSize)
                            kept += 1
                            return
                        }
                        writer = try CleanedSegmentWriter(
                            replacing: segment, in: fileSystem, indexIntervalBytes: indexIntervalBytes)
                        try writer!.copyBatches(from: segment.log, end: unchangedEnd)
                    }
                    if let output {
                        try writer!.append(output)
                        kept += 1
                    }
                }
            } catch {
                writer?.discard()
                throw error
            }
            guard let writer else {
                result.bytesAfter += size
                continue
            }
            do throws(LogError) {
                try writer.finish()
            } catch {
                writer.discard()
                throw error
            }
            switch try swap(segment, with: writer, empty: kept == 0) {
            case .replaced:
                result.segmentsRewritten += 1
                result.bytesAfter += writer.segment.size
            case .removed:
                result.segmentsRemoved += 1
            case .gone:
                result.segmentsSkipped += 1
            }
        }
        if result.segmentsRewritten + result.segmentsRemoved > 0 { try fileSystem.syncDirectory() }
        stateLock.withLock {
            cleanerCheckpoint = cleanedUpTo
            tombstoneDeadline = deadline
        }
        result.nextTombstoneDeadline = deadline
        if result.segmentsRewritten + result.segmentsRemoved > 0 {
            logger.info("compacted log", metadata: ["result": "\(result)"])
        }
        return result
    }

    private enum SwapOutcome { case replaced, removed, gone }

    /// Puts the cleaned copy in place of `old` under both locks: renames its files over the
    /// originals (each rename atomic, the `.log` last), or deletes `old` altogether when the copy
    /// is empty and `old` is not the first segment (the first one stays, empty, so the log start
    /// offset does not move). Readers already holding `old` keep reading its open files.
    private func swap(_ old: Segment, with writer: CleanedSegmentWriter, empty: Bool) throws(LogError) -> SwapOutcome {
        appendLock.lock()
        defer { appendLock.unlock() }
        let position: Int? = stateLock.withLock { isClosed ? nil : segments.firstIndex { $0 === old } }
        guard let position else {
            // Deleted meanwhile by retention or DeleteRecords (or the log was closed).
            writer.discard()
            return .gone
        }
        if empty && position > 0 {
            writer.discard()
            stateLock.withLock { _ = segments.remove(at: position) }
            try Segment.remove(baseOffset: old.baseOffset, from: fileSystem)
            return .removed
        }
        let targets = Segment.fileNames(baseOffset: old.baseOffset)
        let sources = Segment.fileNames(baseOffset: old.baseOffset, suffix: LogFileNames.cleanedSuffix)
        do throws(LogError) {
            // Indexes first: a crash between the renames leaves the old .log with new indexes,
            // which recovery rebuilds from the .log anyway.
            for index in [1, 2, 0] { try fileSystem.rename(sources[index], to: targets[index]) }
        } catch {
            writer.discard()
            throw error
        }
        writer.segment.firstAppendTime = old.firstAppendTime
        writer.segment.lastAppendTime = old.lastAppendTime
        stateLock.withLock { segments[position] = writer.segment }
        return .replaced
    }

    /// Calls `body` with every batch of `segment` up to `size`, CRC-checked.
    private func forEachBatch(of segment: Segment, size: Int64, _ body: (StoredBatch) throws(LogError) -> Void)
        throws(LogError)
    {
        var scanner = BatchScanner(file: segment.log, from: 0, end: size, chunkSize: Self.scanChunk)
        while true {
            switch try scanner.next(verifyCRC: true, wantBytes: true) {
            case .end:
                return
            case let .batch(header, _, bytes):
                try body(StoredBatch(header: header, bytes: bytes!))
            case let .invalid(position, reason):
                throw .storage("compacting \(segment.description): invalid batch at byte \(position): \(reason)")
            }
        }
    }

    private static func locateRecords(_ batch: StoredBatch, segment: Segment) throws(LogError) -> RecordBatchRecords {
        do throws(RecordBatchError) {
            return try RecordBatchRecords(batch)
        } catch {
            throw .storage("compacting \(segment.description): batch at offset \(batch.header.baseOffset): \(error)")
        }
    }
}

/// Writes the cleaned copy of a segment to `<stem>.log.cleaned` (and `.index.cleaned`,
/// `.timeindex.cleaned`), building its in-memory indexes as it goes.
final class CleanedSegmentWriter {
    let segment: Segment
    private let fileSystem: any LogFileSystem
    private let indexIntervalBytes: Int
    private var pending = ByteBuffer()
    private var written: Int64 = 0
    private static let chunk = 1 << 20

    init(replacing old: Segment, in fileSystem: any LogFileSystem, indexIntervalBytes: Int) throws(LogError) {
        self.fileSystem = fileSystem
        self.indexIntervalBytes = indexIntervalBytes
        // Leftovers of an earlier failed attempt must not be appended to.
        for name in Segment.fileNames(baseOffset: old.baseOffset, suffix: LogFileNames.cleanedSuffix) {
            try fileSystem.remove(name)
        }
        segment = try Segment.open(
            in: fileSystem, baseOffset: old.baseOffset, now: old.lastAppendTime, suffix: LogFileNames.cleanedSuffix)
    }

    func append(_ batch: StoredBatch) throws(LogError) {
        let position = segment.size
        let entries = segment.indexEntries(for: batch.header, at: position, indexIntervalBytes: indexIntervalBytes)
        var bytes = batch.bytes
        pending.writeBuffer(&bytes)
        segment.commit(batch.header, at: position, entries: entries, now: nil)
        if pending.readableBytes >= Self.chunk { try flush() }
    }

    /// Appends the batches in `file` before byte `end` unchanged.
    func copyBatches(from file: any LogFile, end: Int64) throws(LogError) {
        var scanner = BatchScanner(file: file, from: 0, end: end, chunkSize: FileLog.scanChunk)
        while case let .batch(header, _, bytes) = try scanner.next(verifyCRC: false, wantBytes: true) {
            try append(StoredBatch(header: header, bytes: bytes!))
        }
    }

    private func flush() throws(LogError) {
        guard pending.readableBytes > 0 else { return }
        var failure: LogError?
        let count = pending.readableBytes
        pending.withUnsafeReadableBytes { raw in
            do throws(LogError) { try segment.log.write([raw], at: written) } catch { failure = error }
        }
        if let failure { throw failure }
        written += Int64(count)
        pending.clear()
    }

    /// Writes what is left, the indexes (with the final time entry a roll would add) and fsyncs.
    func finish() throws(LogError) {
        try flush()
        if let entry = segment.finalTimeIndexEntry { segment.timeIndex.append(entry) }
        try segment.rewriteIndexFiles()
        try segment.syncAll()
    }

    /// Removes the temporary files (best effort: recovery removes any that remain).
    func discard() {
        for name in Segment.fileNames(baseOffset: segment.baseOffset, suffix: LogFileNames.cleanedSuffix) {
            try? fileSystem.remove(name)
        }
    }
}
