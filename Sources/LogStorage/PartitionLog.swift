import KafkaRecords
import NIOCore
import KafkaProtocol

/// When appended bytes are forced to stable storage with fsync.
public enum FlushPolicy: Sendable, Equatable {
    /// fsync the segment before `append` returns (before the producer is acknowledged).
    case everyBatch
    /// fsync this often: the log's owner calls `flush()` on a timer (the broker's maintenance loop).
    case interval(milliseconds: Int64)
}

/// Per-partition log settings (the Kafka topic configs of the same names).
public struct LogConfig: Sendable, Equatable {
    /// Roll to a new segment when the next batch would make the active one larger than this.
    public var segmentBytes: Int
    /// Roll when the active segment received its first batch longer ago than this.
    public var segmentMs: Int64
    /// Delete segments whose largest timestamp is older than this; -1 keeps them forever.
    public var retentionMs: Int64
    /// Delete oldest segments while the log stays at least this large without them; -1 = no limit.
    public var retentionBytes: Int64
    /// Bytes between two sparse index entries.
    public var indexIntervalBytes: Int
    public var flushPolicy: FlushPolicy

    public init(
        segmentBytes: Int = 1 << 30,
        segmentMs: Int64 = 7 * 24 * 3600 * 1000,
        retentionMs: Int64 = 7 * 24 * 3600 * 1000,
        retentionBytes: Int64 = -1,
        indexIntervalBytes: Int = 4096,
        flushPolicy: FlushPolicy = .interval(milliseconds: 1000)
    ) {
        self.segmentBytes = segmentBytes
        self.segmentMs = segmentMs
        self.retentionMs = retentionMs
        self.retentionBytes = retentionBytes
        self.indexIntervalBytes = indexIntervalBytes
        self.flushPolicy = flushPolicy
    }
}

public struct AppendResult: Sendable, Equatable {
    public var baseOffset: Offset
    public var lastOffset: Offset
    public var logStartOffset: Offset

    public init(baseOffset: Offset, lastOffset: Offset, logStartOffset: Offset) {
        self.baseOffset = baseOffset
        self.lastOffset = lastOffset
        self.logStartOffset = logStartOffset
    }
}

public struct LogReadResult: Sendable {
    /// Whole batches only, back to back, exactly as stored.
    public var records: ByteBuffer
    public var logStartOffset: Offset
    public var logEndOffset: Offset

    public init(records: ByteBuffer, logStartOffset: Offset, logEndOffset: Offset) {
        self.records = records
        self.logStartOffset = logStartOffset
        self.logEndOffset = logEndOffset
    }
}

public enum LogError: Error, Sendable, Equatable, CustomStringConvertible {
    case offsetOutOfRange(requested: Offset, logStart: Offset, logEnd: Offset)
    /// An I/O failure, with the operation, file and errno text (e.g. "No space left on device").
    case storage(String)
    /// The log was closed.
    case closed
    /// The batch handed to `append` is malformed.
    case invalidBatch(String)

    public var description: String {
        switch self {
        case let .offsetOutOfRange(requested, start, end):
            "offset \(requested) is out of range [\(start), \(end)]"
        case let .storage(why): "storage error: \(why)"
        case .closed: "log is closed"
        case let .invalidBatch(why): "invalid batch: \(why)"
        }
    }
}

/// One partition's log. All methods may be called from several threads at once; readers only
/// ever see whole batches whose append has completed.
public protocol PartitionLog: AnyObject, Sendable {
    var logStartOffset: Offset { get }
    /// The offset the next appended record gets.
    var logEndOffset: Offset { get }
    var sizeInBytes: Int64 { get }
    var config: LogConfig { get }
    func updateConfig(_ config: LogConfig)

    /// Runs `body` holding the log's append lock, the one lock of the append path: it serialises
    /// every change to the log (append, roll, retention, DeleteRecords, close, the compaction
    /// swap), so whatever `body` decides from the log end is still true when it appends. `body`
    /// changes the log through `writer` only (the log's own methods below would take the lock
    /// again and deadlock) and may keep the owner's per-partition state in step with the log.
    func withAppendLock<T, Failure: Error>(_ body: (LogWriter) throws(Failure) -> T) throws(Failure) -> T

    /// Assigns offsets starting at `logEndOffset` (only the baseOffset bytes change; the CRC does not
    /// cover them), stores the batch, indexes it, and fsyncs if the policy is `everyBatch`.
    /// On any write failure (e.g. ENOSPC) the log is left exactly as before and the error is thrown.
    func append(_ batch: StoredBatch, now: Int64) throws(LogError) -> AppendResult

    /// Offset-preserving append (mirror topics): stores the batch at its own `baseOffset`, byte for
    /// byte (no field is rewritten). `baseOffset` must be at least `logEndOffset`; a gap before it is
    /// allowed (compaction or retention at the source leave gaps), and on an empty log
    /// (`logStartOffset == logEndOffset`) the log restarts at the batch: the log start offset moves
    /// to `baseOffset` and the segment is based there. A batch below the log end throws
    /// `invalidBatch`. Otherwise like `append` (indexing, rolling, flush policy, rollback on failure).
    func appendPreservingOffsets(_ batch: StoredBatch, now: Int64) throws(LogError) -> AppendResult

    /// Raises logStartOffset to `offset` like `deleteRecords(before:)`, except that `offset` may be
    /// past `logEndOffset`: then every segment is deleted and the log restarts empty at `offset`
    /// (Kafka's truncateFullyAndStartAt), so that `logStartOffset == logEndOffset == offset`.
    /// An offset at or below the current start changes nothing. Returns the log start offset.
    func advanceLogStart(to offset: Offset, now: Int64) throws(LogError) -> Offset

    /// Whole batches starting with the one containing `offset`, at most `maxBytes` in total but at
    /// least the first batch when `minOneBatch` (KIP-74). `offset == logEndOffset` gives no records;
    /// an offset outside `[logStartOffset, logEndOffset]` throws `offsetOutOfRange`.
    func read(from offset: Offset, maxBytes: Int, minOneBatch: Bool) throws(LogError) -> LogReadResult

    /// The first batch (not wholly below logStartOffset) whose maxTimestamp >= `timestamp`, or nil.
    func firstBatch(withMaxTimestampAtLeast timestamp: Int64) throws(LogError) -> StoredBatch?

    /// The largest batch maxTimestamp in the log and the last offset of the first batch that has it,
    /// or nil when the log holds no batch with a timestamp.
    func maxTimestampAndOffset() -> (timestamp: Int64, offset: Offset)?

    /// Raises logStartOffset to `offset` (DeleteRecords), persists it, and deletes segments wholly
    /// below it. An offset above logEndOffset throws `offsetOutOfRange`; one at or below the current
    /// start changes nothing. Returns the log start offset afterwards.
    func deleteRecords(before offset: Offset) throws(LogError) -> Offset

    /// Deletes segments by time and size retention (rolling first if the active segment must go)
    /// and advances logStartOffset. Returns the number of segments deleted.
    func enforceRetention(now: Int64) throws(LogError) -> Int

    /// Whether a compaction pass would be worth running now (see `compact`): the dirty part of
    /// the cleanable segments is at least `minCleanableDirtyRatio` of them, a dirty segment is
    /// older than `maxCompactionLagMs`, or a kept tombstone's delete horizon has passed.
    func compactionDue(now: Int64, options: CompactionOptions) -> Bool

    /// One compaction pass over the closed segments (see docs/storage.md, "Compaction"): keeps
    /// only the latest record of each key, removes tombstones whose delete horizon has passed,
    /// and swaps cleaned segments in without blocking appends or reads.
    func compact(now: Int64, options: CompactionOptions) throws(LogError) -> CompactionResult

    /// Headers of the batches from the one containing `offset` to the end.
    func batchHeaders(from offset: Offset) throws(LogError) -> [RecordBatchHeader]

    func flush() throws(LogError)
    func close() throws(LogError)
}
