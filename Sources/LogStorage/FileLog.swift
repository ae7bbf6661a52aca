import Foundation
import KafkaRecords
import Logging
import NIOCore
import KafkaProtocol

/// A partition log made of segments in one directory (see docs/storage.md).
///
/// Locking: `appendLock` is the one lock of the append path. It serialises everything that
/// changes the log (append, roll, retention, DeleteRecords, close, the compaction swap), so the
/// log end an append reads is still the log end when its bytes land; `withAppendLock` lends it
/// to the owner, who keeps its own per-partition state (the broker's producer state) in step
/// with the log under it. `stateLock` guards the segment list, the log start offset, the
/// config and every segment's in-memory fields; it is held only briefly, never across I/O, so
/// reads run concurrently with an append. An append writes its bytes past the active segment's
/// committed `size` first and publishes them under `stateLock` afterwards: readers never see a
/// partially written batch. Compaction (LogCleaner.swift) reads and writes without either lock
/// and takes both only to swap a cleaned segment in; `compactionLock` keeps one cleaner at a time.
public class FileLog: PartitionLog, @unchecked Sendable {
    let fileSystem: any LogFileSystem
    let logger: Logger
    let appendLock = NSLock()
    let stateLock = NSLock()
    var segments: [Segment] = []
    private var startOffset: Int64 = 0
    var currentConfig: LogConfig
    var isClosed = false
    /// Compaction state (LogCleaner.swift), guarded by `stateLock`; in memory only, so the first
    /// pass after opening treats the whole log as dirty.
    let compactionLock = NSLock()
    var cleanerCheckpoint: Int64?
    var tombstoneDeadline: Int64?

    /// Bytes read per chunk when scanning batch headers.
    static let scanChunk = 256 * 1024

    /// Opens (creating if needed) the log in `directory`, recovering it if it was not closed cleanly.
    public static func open(directory: String, config: LogConfig, now: Int64, logger: Logger) throws(LogError)
        -> FileLog
    {
        try FileLog(fileSystem: PosixFileSystem(directory: directory), config: config, now: now, logger: logger)
    }

    init(fileSystem: any LogFileSystem, config: LogConfig, now: Int64, logger: Logger) throws(LogError) {
        self.fileSystem = fileSystem
        self.logger = logger
        self.currentConfig = config
        try fileSystem.createDirectoryIfNeeded()
        try recover(now: now)
    }

    // MARK: Recovery

    /// Rebuilds the in-memory state from the files: every segment is scanned batch by batch and
    /// its indexes rebuilt. After an unclean shutdown the last two segments are also CRC-checked;
    /// the log is truncated at the first torn or corrupt batch and later segments are removed.
    private func recover(now: Int64) throws(LogError) {
        var names = try fileSystem.list()
        // A compaction that did not finish its swap: the original segment is still in place
        // (renames are atomic), so the half-done copy is simply dropped.
        for name in names where name.hasSuffix(LogFileNames.cleanedSuffix) {
            logger.info("log recovery removed an unfinished compaction file", metadata: ["file": "\(name)"])
            try fileSystem.remove(name)
        }
        names.removeAll { $0.hasSuffix(LogFileNames.cleanedSuffix) }
        let clean = names.contains(LogFileNames.cleanShutdown)
        let bases = names.compactMap { name -> Int64? in
            guard name.hasSuffix(LogFileNames.logSuffix) else { return nil }
            return LogFileNames.baseOffset(ofStem: name.dropLast(LogFileNames.logSuffix.count))
        }.sorted()
        // Indexes whose segment is gone are leftovers of an interrupted deletion.
        for name in names
        where name.hasSuffix(LogFileNames.offsetIndexSuffix) || name.hasSuffix(LogFileNames.timeIndexSuffix) {
            let stem = name.split(separator: ".").first.map(String.init) ?? ""
            if let base = LogFileNames.baseOffset(ofStem: Substring(stem)), !bases.contains(base) {
                try fileSystem.remove(name)
            }
        }
        var storedStart: Int64 = 0
        if let bytes = try fileSystem.readSmallFile(LogFileNames.logStartOffset),
            let value = Int64(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        {
            storedStart = value
        }
        var recovered: [Segment] = []
        var expectedNext: Int64 = bases.first ?? storedStart
        for (position, base) in bases.enumerated() {
            let segment = try Segment.open(in: fileSystem, baseOffset: base, now: now)
            let verify = !clean && position >= bases.count - 2
            let problem = try scan(segment, expectedNext: max(expectedNext, base), verifyCRC: verify)
            try segment.rewriteIndexFiles()
            if segment.size > 0 { segment.firstAppendTime = now }
            recovered.append(segment)
            expectedNext = segment.nextOffset
            if let problem {
                logger.warning(
                    "log recovery truncated a segment",
                    metadata: [
                        "segment": "\(segment.description)", "position": "\(problem.position)",
                        "reason": "\(problem.reason)"
                    ])
                for later in bases[(position + 1)...] {
                    logger.warning(
                        "log recovery removed a segment after the truncation point",
                        metadata: ["segment": "\(LogFileNames.stem(later))"])
                    try Segment.remove(baseOffset: later, from: fileSystem)
                }
                break
            }
        }
        if recovered.isEmpty {
            recovered.append(try Segment.open(in: fileSystem, baseOffset: storedStart, now: now))
        }
        segments = recovered
        let end = recovered.last!.nextOffset
        startOffset = min(max(storedStart, recovered.first!.baseOffset), end)
        if storedStart > startOffset {
            // The persisted start is past what survived (e.g. unsynced data lost with the power):
            // write the lower start back, or batches appended from here would be hidden by the
            // stale value after the next restart.
            try persistLogStart(startOffset)
        }
        if clean { try fileSystem.remove(LogFileNames.cleanShutdown) }
        try fileSystem.syncDirectory()
    }

    /// Scans a segment from its start, committing every valid batch (and its index entries) to
    /// memory. On the first invalid batch the file is truncated there and the reason returned.
    private func scan(_ segment: Segment, expectedNext: Int64, verifyCRC: Bool) throws(LogError) -> (
        position: Int64, reason: String
    )? {
        let fileSize = try segment.log.size()
        var scanner = BatchScanner(file: segment.log, from: 0, end: fileSize, chunkSize: Self.scanChunk)
        var next = expectedNext
        while true {
            switch try scanner.next(verifyCRC: verifyCRC) {
            case .end:
                return nil
            case let .batch(header, position, _):
                guard header.baseOffset >= next else {
                    try segment.log.truncate(to: position)
                    return (position, "batch base offset \(header.baseOffset) is below the expected \(next)")
                }
                let entries = segment.indexEntries(
                    for: header, at: position, indexIntervalBytes: currentConfig.indexIntervalBytes)
                segment.commit(header, at: position, entries: entries, now: nil)
                next = header.nextOffset
            case let .invalid(position, reason):
                try segment.log.truncate(to: position)
                return (position, reason)
            }
        }
    }

    // MARK: State

    public var logStartOffset: Offset { stateLock.withLock { startOffset } }
    public var logEndOffset: Offset { stateLock.withLock { segments.last!.nextOffset } }
    public var sizeInBytes: Int64 { stateLock.withLock { segments.reduce(0) { $0 + $1.size } } }
    public var config: LogConfig { stateLock.withLock { currentConfig } }
    public func updateConfig(_ config: LogConfig) { stateLock.withLock { currentConfig = config } }

    // MARK: Append

    public func withAppendLock<T, Failure: Error>(_ body: (LogWriter) throws(Failure) -> T) throws(Failure) -> T {
        appendLock.lock()
        defer { appendLock.unlock() }
        return try body(LogWriter(log: self))
    }

    public func append(_ batch: StoredBatch, now: Int64) throws(LogError) -> AppendResult {
        try withAppendLock { writer throws(LogError) in try writer.append(batch, now: now) }
    }

    public func appendPreservingOffsets(_ batch: StoredBatch, now: Int64) throws(LogError) -> AppendResult {
        try withAppendLock { writer throws(LogError) in try writer.appendPreservingOffsets(batch, now: now) }
    }

    /// `append`; callers hold `appendLock`.
    fileprivate func appendHoldingLock(_ batch: StoredBatch, now: Int64) throws(LogError) -> AppendResult {
        guard !isClosed else { throw .closed }
        let (config, end) = stateLock.withLock { (currentConfig, segments.last!.nextOffset) }
        var batch = batch
        var active = segments.last!
        if shouldRoll(active, adding: batch.header, at: end, config: config, now: now) {
            active = try roll(at: end, now: now)
        }
        batch.assignBaseOffset(end)
        return try store(batch, in: active, config: config, now: now)
    }

    /// `appendPreservingOffsets`; callers hold `appendLock`.
    fileprivate func appendPreservingOffsetsHoldingLock(_ batch: StoredBatch, now: Int64) throws(LogError)
        -> AppendResult
    {
        guard !isClosed else { throw .closed }
        let base = batch.header.baseOffset
        guard batch.header.lastOffsetDelta >= 0 else {
            throw .invalidBatch("lastOffsetDelta \(batch.header.lastOffsetDelta) is negative")
        }
        let (config, start, end) = stateLock.withLock { (currentConfig, startOffset, segments.last!.nextOffset) }
        guard base >= end else {
            throw .invalidBatch(
                "batch at offsets \(base)...\(batch.header.lastOffset) is below the log end offset \(end)")
        }
        if start == end && base > end {
            // Empty log: it starts at the first batch (segment based there, start offset moved).
            try restartEmpty(at: base, now: now)
        }
        var active = segments.last!
        if shouldRoll(active, adding: batch.header, at: base, config: config, now: now) {
            active = try roll(at: base, now: now)
        }
        return try store(batch, in: active, config: config, now: now)
    }

    /// Writes `batch` (offsets already final) at the end of `active`, indexes it, fsyncs if the
    /// policy says so and publishes it. Callers hold `appendLock`.
    private func store(_ batch: StoredBatch, in active: Segment, config: LogConfig, now: Int64) throws(LogError)
        -> AppendResult
    {
        let position = active.size
        let entries = active.indexEntries(
            for: batch.header, at: position, indexIntervalBytes: config.indexIntervalBytes)
        do throws(LogError) {
            try write(batch.bytes, to: active.log, at: position)
            if let entry = entries.offset { try active.writeOffsetIndexEntry(entry) }
            if let entry = entries.time { try active.writeTimeIndexEntry(entry) }
            // The interval policy is driven by the owner calling flush() on a timer, so no
            // append ever waits for an fsync of data other producers wrote.
            if config.flushPolicy == .everyBatch { try active.log.sync() }
        } catch {
            // Leave the files exactly as they were before this append (e.g. after ENOSPC).
            active.rollBackFiles()
            throw error
        }
        let start: Int64 = stateLock.withLock {
            active.commit(batch.header, at: position, entries: entries, now: now)
            return startOffset
        }
        return AppendResult(
            baseOffset: batch.header.baseOffset, lastOffset: batch.header.lastOffset, logStartOffset: start)
    }

    /// Whether `header`, placed at `base`, must go into a new segment.
    private func shouldRoll(
        _ active: Segment, adding header: RecordBatchHeader, at base: Int64, config: LogConfig, now: Int64
    ) -> Bool {
        guard active.size > 0 else { return false }
        if active.size + Int64(header.totalSize) > Int64(config.segmentBytes) { return true }
        if let first = active.firstAppendTime, now - first > config.segmentMs { return true }
        // Index entries hold offsets relative to the segment base as Int32.
        return base + Int64(header.lastOffsetDelta) - active.baseOffset > Int64(Int32.max)
    }

    /// Starts a new active segment at `offset`. The old one gets its final time-index entry and
    /// is fsynced, so only the active segment can ever hold unsynced data.
    private func roll(at offset: Int64, now: Int64) throws(LogError) -> Segment {
        let old = segments.last!
        if let entry = old.finalTimeIndexEntry {
            try old.writeTimeIndexEntry(entry)
            stateLock.withLock { old.timeIndex.append(entry) }
        }
        try old.syncAll()
        let segment = try Segment.open(in: fileSystem, baseOffset: offset, now: now)
        try fileSystem.syncDirectory()
        stateLock.withLock { segments.append(segment) }
        return segment
    }

    // MARK: Read

    public func read(from offset: Offset, maxBytes: Int, minOneBatch: Bool) throws(LogError) -> LogReadResult {
        let (segment, segmentEnd, position, start, end) = try locate(offset)
        guard let segment, offset < end else {
            return LogReadResult(
                records: ByteBufferAllocator().buffer(capacity: 0), logStartOffset: start, logEndOffset: end)
        }
        var scanner = BatchScanner(file: segment.log, from: position, end: segmentEnd, chunkSize: 16 * 1024)
        var first: Int64?
        var last: Int64 = position
        scan: while true {
            switch try scanner.next(verifyCRC: false) {
            case .end, .invalid:
                break scan
            case let .batch(header, batchPosition, _):
                if first == nil {
                    guard header.lastOffset >= offset else { continue }
                    first = batchPosition
                    if Int64(header.totalSize) > Int64(maxBytes) {
                        if minOneBatch { last = batchPosition + Int64(header.totalSize) }
                        break scan
                    }
                } else if batchPosition + Int64(header.totalSize) - first! > Int64(maxBytes) {
                    break scan
                }
                last = batchPosition + Int64(header.totalSize)
            }
        }
        guard let first, last > first else {
            return LogReadResult(
                records: ByteBufferAllocator().buffer(capacity: 0), logStartOffset: start, logEndOffset: end)
        }
        var records = ByteBufferAllocator().buffer(capacity: Int(last - first))
        let read = try segment.log.read(into: &records, count: Int(last - first), at: first)
        guard read == Int(last - first) else { throw .storage("short read of \(segment.description) at \(first)") }
        return LogReadResult(records: records, logStartOffset: start, logEndOffset: end)
    }

    /// The segment holding `offset`, its committed size, a position at or before the batch with
    /// `offset`, and the log's start and end offsets; throws when `offset` is out of range.
    private func locate(_ offset: Int64) throws(LogError) -> (Segment?, Int64, Int64, Int64, Int64) {
        stateLock.lock()
        defer { stateLock.unlock() }
        guard !isClosed else { throw .closed }
        let end = segments.last!.nextOffset
        guard offset >= startOffset, offset <= end else {
            throw .offsetOutOfRange(requested: offset, logStart: startOffset, logEnd: end)
        }
        guard let index = segments.lastIndex(where: { $0.baseOffset <= offset }) ?? segments.indices.first else {
            return (nil, 0, 0, startOffset, end)
        }
        var segment = segments[index]
        // An offset in a gap past a segment's last batch lives in the next segment.
        if offset >= segment.nextOffset, index + 1 < segments.count { segment = segments[index + 1] }
        return (segment, segment.size, segment.position(atOrBefore: offset), startOffset, end)
    }

    public func firstBatch(withMaxTimestampAtLeast timestamp: Int64) throws(LogError) -> StoredBatch? {
        let (candidates, start) = stateLock.withLock {
            (
                segments.filter { $0.maxTimestamp >= timestamp && $0.nextOffset > startOffset }
                    .map { ($0, $0.size, $0.position(atOrBefore: $0.offset(beforeTimestamp: timestamp))) }, startOffset
            )
        }
        for (segment, size, position) in candidates {
            var scanner = BatchScanner(file: segment.log, from: position, end: size, chunkSize: 64 * 1024)
            while case let .batch(header, _, bytes) = try scanner.next(verifyCRC: false, wantBytes: true) {
                if header.maxTimestamp >= timestamp, header.lastOffset >= start, let bytes {
                    return StoredBatch(header: header, bytes: bytes)
                }
            }
        }
        return nil
    }

    public func maxTimestampAndOffset() -> (timestamp: Int64, offset: Offset)? {
        stateLock.withLock {
            var best: (timestamp: Int64, offset: Int64)?
            for segment in segments where segment.maxTimestamp >= 0 && segment.maxTimestamp > (best?.timestamp ?? -1) {
                best = (segment.maxTimestamp, segment.offsetOfMaxTimestamp)
            }
            return best
        }
    }

    public func batchHeaders(from offset: Offset) throws(LogError) -> [RecordBatchHeader] {
        let targets = stateLock.withLock {
            segments.filter { $0.nextOffset > offset }.map { ($0, $0.size, $0.position(atOrBefore: offset)) }
        }
        var headers: [RecordBatchHeader] = []
        for (segment, size, position) in targets {
            var scanner = BatchScanner(file: segment.log, from: position, end: size, chunkSize: Self.scanChunk)
            while case let .batch(header, _, _) = try scanner.next(verifyCRC: false) {
                if header.lastOffset >= offset { headers.append(header) }
            }
        }
        return headers
    }

    // MARK: Deletion

    public func deleteRecords(before offset: Offset) throws(LogError) -> Offset {
        appendLock.lock()
        defer { appendLock.unlock() }
        guard !isClosed else { throw .closed }
        let (start, end) = stateLock.withLock { (startOffset, segments.last!.nextOffset) }
        guard offset <= end else { throw .offsetOutOfRange(requested: offset, logStart: start, logEnd: end) }
        guard offset > start else { return start }
        try persistLogStart(offset)
        stateLock.withLock { startOffset = offset }
        try deleteSegments { segment, _ in segment.nextOffset <= offset }
        return offset
    }

    public func advanceLogStart(to offset: Offset, now: Int64) throws(LogError) -> Offset {
        try withAppendLock { writer throws(LogError) in try writer.advanceLogStart(to: offset, now: now) }
    }

    /// `advanceLogStart`; callers hold `appendLock`.
    fileprivate func advanceLogStartHoldingLock(to offset: Int64, now: Int64) throws(LogError) -> Int64 {
        guard !isClosed else { throw .closed }
        let (start, end) = stateLock.withLock { (startOffset, segments.last!.nextOffset) }
        guard offset > start else { return start }
        if offset > end {
            try restartEmpty(at: offset, now: now)
        } else {
            try persistLogStart(offset)
            stateLock.withLock { startOffset = offset }
            try deleteSegments { segment, _ in segment.nextOffset <= offset }
        }
        return offset
    }

    /// Empties the log and restarts it at `offset` (above the log end): a new active segment is
    /// based at `offset`, the start offset is persisted, then every older segment is deleted.
    /// A crash in between leaves either the old log or segments wholly below the persisted start,
    /// which reads never reach. Callers hold `appendLock`.
    private func restartEmpty(at offset: Int64, now: Int64) throws(LogError) {
        _ = try roll(at: offset, now: now)
        try persistLogStart(offset)
        stateLock.withLock { startOffset = offset }
        // Every segment but the new, empty active one ends at or below `offset`.
        try deleteSegments { segment, _ in segment.nextOffset <= offset }
        logger.info("log restarted empty", metadata: ["offset": "\(offset)"])
    }

    public func enforceRetention(now: Int64) throws(LogError) -> Int {
        appendLock.lock()
        defer { appendLock.unlock() }
        guard !isClosed else { throw .closed }
        let config = stateLock.withLock { currentConfig }
        var total = stateLock.withLock { segments.reduce(Int64(0)) { $0 + $1.size } }
        let deleted = try deleteSegments { segment, isLast in
            // A closed segment that compaction emptied holds nothing: it must not stop retention.
            if segment.size == 0, !isLast { return config.retentionMs >= 0 || config.retentionBytes >= 0 }
            guard segment.size > 0 else { return false }
            if config.retentionMs >= 0, now - segment.largestTimestamp > config.retentionMs {
                total -= segment.size
                return true
            }
            if config.retentionBytes >= 0, total - segment.size >= config.retentionBytes {
                total -= segment.size
                return true
            }
            return false
        }
        if deleted > 0 {
            let first = stateLock.withLock { segments.first!.baseOffset }
            if first > logStartOffset {
                try persistLogStart(first)
                stateLock.withLock { startOffset = first }
            }
        }
        return deleted
    }

    /// Deletes the oldest segments while `condition` holds, oldest first. If the active segment
    /// must go too, a new empty active segment is rolled first. Callers hold `appendLock`.
    @discardableResult
    private func deleteSegments(while condition: (Segment, Bool) -> Bool) throws(LogError) -> Int {
        var doomed: [Segment] = []
        let snapshot = stateLock.withLock { segments }
        for (index, segment) in snapshot.enumerated() {
            guard condition(segment, index == snapshot.count - 1) else { break }
            doomed.append(segment)
        }
        if doomed.count == snapshot.count {
            if snapshot.last!.size == 0 {
                // An empty active segment already starts at the log end: keep it. (Rolling would
                // reopen the very same files, which would then be unlinked.)
                doomed.removeLast()
            } else {
                _ = try roll(at: snapshot.last!.nextOffset, now: snapshot.last!.lastAppendTime)
            }
        }
        guard !doomed.isEmpty else { return 0 }
        stateLock.withLock { segments.removeFirst(doomed.count) }
        for segment in doomed {
            try Segment.remove(baseOffset: segment.baseOffset, from: fileSystem)
            logger.info("deleted segment", metadata: ["segment": "\(segment.description)"])
        }
        try fileSystem.syncDirectory()
        return doomed.count
    }

    private func persistLogStart(_ offset: Int64) throws(LogError) {
        try fileSystem.replaceAtomically(LogFileNames.logStartOffset, with: Array("\(offset)\n".utf8))
    }

    // MARK: Flush and close

    /// fsyncs the active segment (older segments were fsynced when they were rolled). Does not
    /// take the append lock: appends go on while the disk catches up.
    public func flush() throws(LogError) {
        let active: Segment? = stateLock.withLock { isClosed ? nil : segments.last }
        guard let active else { return }
        try active.log.sync()
        try active.offsetIndexFile.sync()
        try active.timeIndexFile.sync()
    }

    public func close() throws(LogError) {
        appendLock.lock()
        defer { appendLock.unlock() }
        guard !isClosed else { return }
        for segment in stateLock.withLock({ segments }) { try segment.syncAll() }
        try fileSystem.replaceAtomically(LogFileNames.cleanShutdown, with: [])
        stateLock.withLock { isClosed = true }
    }
}

/// A log's changes while its append lock is held (`PartitionLog.withAppendLock`): the same
/// operations as on the log, without taking the lock again. Valid only inside that call.
public struct LogWriter {
    fileprivate let log: FileLog

    public func append(_ batch: StoredBatch, now: Int64) throws(LogError) -> AppendResult {
        try log.appendHoldingLock(batch, now: now)
    }

    public func appendPreservingOffsets(_ batch: StoredBatch, now: Int64) throws(LogError) -> AppendResult {
        try log.appendPreservingOffsetsHoldingLock(batch, now: now)
    }

    public func advanceLogStart(to offset: Int64, now: Int64) throws(LogError) -> Int64 {
        try log.advanceLogStartHoldingLock(to: offset, now: now)
    }
}

/// The same log over an in-memory directory: for broker tests that should not touch the disk.
public final class InMemoryLog: FileLog, @unchecked Sendable {
    public init(config: LogConfig = LogConfig(), now: Int64 = 0) {
        var logger = Logger(label: "strait.memory-log")
        logger.logLevel = .error
        // A memory directory cannot fail to open.
        try! super.init(fileSystem: MemoryFileSystem(), config: config, now: now, logger: logger)
    }
}

private func write(_ bytes: ByteBuffer, to file: any LogFile, at position: Int64) throws(LogError) {
    var failure: LogError?
    bytes.withUnsafeReadableBytes { raw in
        do throws(LogError) { try file.write([raw], at: position) } catch { failure = error }
    }
    if let failure { throw failure }
}
