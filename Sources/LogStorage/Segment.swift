import KafkaRecords
import NIOCore

/// A sparse offset index entry. On disk, 8 bytes big-endian:
/// `relativeOffset int32 | position int32` — the batch whose baseOffset is
/// `segment.baseOffset + relativeOffset` starts at byte `position` of the segment's `.log`.
struct OffsetIndexEntry: Equatable {
    static let size = 8
    var relativeOffset: Int32
    var position: Int32
}

/// A sparse time index entry. On disk, 12 bytes big-endian: `timestamp int64 | relativeOffset int32`.
/// `timestamp` is the segment's largest batch maxTimestamp so far, first reached by the batch whose
/// last offset is `segment.baseOffset + relativeOffset`. Timestamps strictly increase.
struct TimeIndexEntry: Equatable {
    static let size = 12
    var timestamp: Int64
    var relativeOffset: Int32
}

/// Names of the files in a partition directory.
enum LogFileNames {
    static let logSuffix = ".log"
    static let offsetIndexSuffix = ".index"
    static let timeIndexSuffix = ".timeindex"
    static let logStartOffset = "log-start-offset"
    static let recoveryPoint = "recovery-point"
    static let cleanShutdown = ".clean-shutdown"
    /// Appended to a segment's three file names while compaction writes its cleaned copy.
    static let cleanedSuffix = ".cleaned"

    /// The 20-digit zero-padded base offset, as Kafka names segments.
    static func stem(_ baseOffset: Int64) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    static func baseOffset(ofStem stem: Substring) -> Int64? {
        guard stem.count == 20, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(stem)
    }
}

/// One segment: a `.log` file of back-to-back batches plus its two sparse indexes, mirrored in
/// memory. Mutable fields change only while the owning log holds both its append lock and its
/// state lock; readers look at them under the state lock, the appender under the append lock.
final class Segment: @unchecked Sendable {
    let baseOffset: Int64
    let log: any LogFile
    let offsetIndexFile: any LogFile
    let timeIndexFile: any LogFile

    /// Bytes of whole, committed batches; readers never look past it.
    var size: Int64 = 0
    /// One past the last offset in the segment (== baseOffset when empty).
    var nextOffset: Int64
    var offsetIndex: [OffsetIndexEntry] = []
    var timeIndex: [TimeIndexEntry] = []
    var maxTimestamp: Int64 = -1
    /// Last offset of the first batch that carried `maxTimestamp`; -1 if none.
    var offsetOfMaxTimestamp: Int64 = -1
    var bytesSinceLastIndexEntry = 0
    /// `now` when the first batch went in (or when the log was opened): drives roll by time.
    var firstAppendTime: Int64?
    /// `now` of the last append (or open): stands in for maxTimestamp when batches carry none.
    var lastAppendTime: Int64

    init(baseOffset: Int64, log: any LogFile, offsetIndexFile: any LogFile, timeIndexFile: any LogFile, now: Int64) {
        self.baseOffset = baseOffset
        self.log = log
        self.offsetIndexFile = offsetIndexFile
        self.timeIndexFile = timeIndexFile
        self.nextOffset = baseOffset
        self.lastAppendTime = now
    }

    static func open(in fileSystem: any LogFileSystem, baseOffset: Int64, now: Int64, suffix: String = "")
        throws(LogError) -> Segment
    {
        let stem = LogFileNames.stem(baseOffset)
        return Segment(
            baseOffset: baseOffset,
            log: try fileSystem.open(stem + LogFileNames.logSuffix + suffix),
            offsetIndexFile: try fileSystem.open(stem + LogFileNames.offsetIndexSuffix + suffix),
            timeIndexFile: try fileSystem.open(stem + LogFileNames.timeIndexSuffix + suffix),
            now: now)
    }

    /// The segment's three file names (with `suffix` appended to each).
    static func fileNames(baseOffset: Int64, suffix: String = "") -> [String] {
        let stem = LogFileNames.stem(baseOffset)
        return [LogFileNames.logSuffix, LogFileNames.offsetIndexSuffix, LogFileNames.timeIndexSuffix].map {
            stem + $0 + suffix
        }
    }

    static func remove(baseOffset: Int64, from fileSystem: any LogFileSystem) throws(LogError) {
        let stem = LogFileNames.stem(baseOffset)
        try fileSystem.remove(stem + LogFileNames.logSuffix)
        try fileSystem.remove(stem + LogFileNames.offsetIndexSuffix)
        try fileSystem.remove(stem + LogFileNames.timeIndexSuffix)
    }

    var description: String { LogFileNames.stem(baseOffset) + LogFileNames.logSuffix }

    /// Largest timestamp for time retention: the batches' own, or the last append time if none.
    var largestTimestamp: Int64 { maxTimestamp >= 0 ? maxTimestamp : lastAppendTime }

    // MARK: Index lookups

    /// A position at or before the batch containing `offset`.
    func position(atOrBefore offset: Int64) -> Int64 {
        let relative = offset - baseOffset
        guard relative > 0, let first = offsetIndex.first, Int64(first.relativeOffset) <= relative else { return 0 }
        var low = 0, high = offsetIndex.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if Int64(offsetIndex[mid].relativeOffset) <= relative { low = mid } else { high = mid - 1 }
        }
        return Int64(offsetIndex[low].position)
    }

    /// An offset at or before the first batch whose maxTimestamp >= `timestamp`: every batch up to
    /// the time index entry with the largest timestamp below `timestamp` is too old.
    func offset(beforeTimestamp timestamp: Int64) -> Int64 {
        guard let first = timeIndex.first, first.timestamp < timestamp else { return baseOffset }
        var low = 0, high = timeIndex.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if timeIndex[mid].timestamp < timestamp { low = mid } else { high = mid - 1 }
        }
        return baseOffset + Int64(timeIndex[low].relativeOffset)
    }

    // MARK: Appending

    /// The index entries Kafka's rule gives a batch appended at `position`: an offset entry when at
    /// least `indexIntervalBytes` were written since the last one, and a time entry with it when the
    /// segment's max timestamp grew past the last time entry.
    func indexEntries(for header: RecordBatchHeader, at position: Int64, indexIntervalBytes: Int)
        -> (offset: OffsetIndexEntry?, time: TimeIndexEntry?)
    {
        guard bytesSinceLastIndexEntry >= indexIntervalBytes else { return (nil, nil) }
        let offsetEntry = OffsetIndexEntry(
            relativeOffset: Int32(header.baseOffset - baseOffset), position: Int32(position))
        let (maxTimestamp, offsetOfMax) = maxTimestampAfter(header)
        var timeEntry: TimeIndexEntry?
        if maxTimestamp >= 0, maxTimestamp > (timeIndex.last?.timestamp ?? -1) {
            timeEntry = TimeIndexEntry(timestamp: maxTimestamp, relativeOffset: Int32(offsetOfMax - baseOffset))
        }
        return (offsetEntry, timeEntry)
    }

    private func maxTimestampAfter(_ header: RecordBatchHeader) -> (Int64, Int64) {
        header.maxTimestamp > maxTimestamp
            ? (header.maxTimestamp, header.lastOffset) : (maxTimestamp, offsetOfMaxTimestamp)
    }

    /// Records in memory a batch whose bytes (and index entries) are already written.
    func commit(
        _ header: RecordBatchHeader, at position: Int64, entries: (offset: OffsetIndexEntry?, time: TimeIndexEntry?),
        now: Int64?
    ) {
        if let entry = entries.offset {
            offsetIndex.append(entry)
            bytesSinceLastIndexEntry = 0
        }
        if let entry = entries.time { timeIndex.append(entry) }
        (maxTimestamp, offsetOfMaxTimestamp) = maxTimestampAfter(header)
        bytesSinceLastIndexEntry += header.totalSize
        size = position + Int64(header.totalSize)
        nextOffset = header.nextOffset
        if let now {
            if firstAppendTime == nil { firstAppendTime = now }
            lastAppendTime = now
        }
    }

    /// The time entry that records the segment's final max timestamp, if the index lacks it
    /// (written when a segment stops being active, so reopening finds its max timestamp).
    var finalTimeIndexEntry: TimeIndexEntry? {
        guard maxTimestamp >= 0, maxTimestamp > (timeIndex.last?.timestamp ?? -1) else { return nil }
        return TimeIndexEntry(timestamp: maxTimestamp, relativeOffset: Int32(offsetOfMaxTimestamp - baseOffset))
    }

    // MARK: Index files

    static func encode(_ entry: OffsetIndexEntry, into bytes: inout [UInt8]) {
        appendBigEndian(entry.relativeOffset, to: &bytes)
        appendBigEndian(entry.position, to: &bytes)
    }

    static func encode(_ entry: TimeIndexEntry, into bytes: inout [UInt8]) {
        appendBigEndian(entry.timestamp, to: &bytes)
        appendBigEndian(entry.relativeOffset, to: &bytes)
    }

    /// Appends one offset index entry to the `.index` file (which mirrors `offsetIndex`).
    func writeOffsetIndexEntry(_ entry: OffsetIndexEntry) throws(LogError) {
        var bytes: [UInt8] = []
        Self.encode(entry, into: &bytes)
        try write(bytes, to: offsetIndexFile, at: Int64(offsetIndex.count * OffsetIndexEntry.size))
    }

    func writeTimeIndexEntry(_ entry: TimeIndexEntry) throws(LogError) {
        var bytes: [UInt8] = []
        Self.encode(entry, into: &bytes)
        try write(bytes, to: timeIndexFile, at: Int64(timeIndex.count * TimeIndexEntry.size))
    }

    /// Replaces both index files with the in-memory entries (after a rebuild).
    func rewriteIndexFiles() throws(LogError) {
        var offsets: [UInt8] = []
        offsets.reserveCapacity(offsetIndex.count * OffsetIndexEntry.size)
        for entry in offsetIndex { Self.encode(entry, into: &offsets) }
        var times: [UInt8] = []
        times.reserveCapacity(timeIndex.count * TimeIndexEntry.size)
        for entry in timeIndex { Self.encode(entry, into: &times) }
        try offsetIndexFile.truncate(to: 0)
        try write(offsets, to: offsetIndexFile, at: 0)
        try timeIndexFile.truncate(to: 0)
        try write(times, to: timeIndexFile, at: 0)
    }

    /// Cuts the files back to what memory says is committed (undoing a failed append).
    func rollBackFiles() {
        try? log.truncate(to: size)
        try? offsetIndexFile.truncate(to: Int64(offsetIndex.count * OffsetIndexEntry.size))
        try? timeIndexFile.truncate(to: Int64(timeIndex.count * TimeIndexEntry.size))
    }

    func syncAll() throws(LogError) {
        try log.sync()
        try offsetIndexFile.sync()
        try timeIndexFile.sync()
    }

    /// Loads both index files. Returns a reason when they are not a consistent index of a
    /// `.log` of `logSize` bytes.
    func loadIndexFiles(logSize: Int64) throws(LogError) -> String? {
        let offsetBytes = try readAll(offsetIndexFile)
        guard offsetBytes.count % OffsetIndexEntry.size == 0 else {
            return "offset index size \(offsetBytes.count) is not a multiple of \(OffsetIndexEntry.size)"
        }
        var offsets: [OffsetIndexEntry] = []
        offsets.reserveCapacity(offsetBytes.count / OffsetIndexEntry.size)
        for start in stride(from: 0, to: offsetBytes.count, by: OffsetIndexEntry.size) {
            let entry = OffsetIndexEntry(
                relativeOffset: readBigEndian(offsetBytes, at: start),
                position: readBigEndian(offsetBytes, at: start + 4))
            if let last = offsets.last, entry.relativeOffset <= last.relativeOffset || entry.position <= last.position {
                return "offset index entries are not increasing at entry \(offsets.count)"
            }
            guard entry.relativeOffset >= 0, entry.position >= 0, Int64(entry.position) < logSize else {
                return "offset index entry \(offsets.count) points outside the log"
            }
            offsets.append(entry)
        }
        let timeBytes = try readAll(timeIndexFile)
        guard timeBytes.count % TimeIndexEntry.size == 0 else {
            return "time index size \(timeBytes.count) is not a multiple of \(TimeIndexEntry.size)"
        }
        var times: [TimeIndexEntry] = []
        times.reserveCapacity(timeBytes.count / TimeIndexEntry.size)
        for start in stride(from: 0, to: timeBytes.count, by: TimeIndexEntry.size) {
            let entry = TimeIndexEntry(
                timestamp: readBigEndian(timeBytes, at: start), relativeOffset: readBigEndian(timeBytes, at: start + 8))
            if let last = times.last, entry.timestamp <= last.timestamp || entry.relativeOffset < last.relativeOffset {
                return "time index entries are not increasing at entry \(times.count)"
            }
            guard entry.relativeOffset >= 0, entry.timestamp >= 0 else {
                return "time index entry \(times.count) is negative"
            }
            times.append(entry)
        }
        offsetIndex = offsets
        timeIndex = times
        return nil
    }
}

private func write(_ bytes: [UInt8], to file: any LogFile, at offset: Int64) throws(LogError) {
    guard !bytes.isEmpty else { return }
    var failure: LogError?
    bytes.withUnsafeBytes { raw in
        do throws(LogError) { try file.write([raw], at: offset) } catch { failure = error }
    }
    if let failure { throw failure }
}

private func readAll(_ file: any LogFile) throws(LogError) -> [UInt8] {
    let size = Int(try file.size())
    var buffer = ByteBufferAllocator().buffer(capacity: size)
    _ = try file.read(into: &buffer, count: size, at: 0)
    return buffer.readBytes(length: buffer.readableBytes) ?? []
}

func appendBigEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
}

func readBigEndian<T: FixedWidthInteger>(_ bytes: [UInt8], at start: Int, as: T.Type = T.self) -> T {
    var value = T.zero
    for index in start..<(start + MemoryLayout<T>.size) { value = value << 8 | T(truncatingIfNeeded: bytes[index]) }
    return value
}
