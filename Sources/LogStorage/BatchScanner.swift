import KafkaRecords
import NIOCore

/// Walks the batches of a `.log` file from a position, reading it in chunks.
/// Used by recovery (with CRC checks), by reads to find the batch containing an offset,
/// and by timestamp and header queries.
struct BatchScanner {
    enum Step {
        /// A well-formed batch at `position`; `bytes` is set when requested.
        case batch(RecordBatchHeader, position: Int64, bytes: ByteBuffer?)
        /// Exactly at `end`.
        case end
        /// The bytes at `position` are not a valid batch (torn or corrupt).
        case invalid(position: Int64, reason: String)
    }

    let file: any LogFile
    let end: Int64
    private(set) var position: Int64
    private let chunkSize: Int
    private var buffer: ByteBuffer
    /// File position of `buffer.readerIndex`.
    private var bufferStart: Int64

    init(file: any LogFile, from position: Int64, end: Int64, chunkSize: Int) {
        self.file = file
        self.end = end
        self.position = position
        self.chunkSize = chunkSize
        self.buffer = ByteBufferAllocator().buffer(capacity: 0)
        self.bufferStart = position
    }

    mutating func next(verifyCRC: Bool, wantBytes: Bool = false) throws(LogError) -> Step {
        guard position < end else { return .end }
        let remaining = end - position
        guard remaining >= Int64(RecordBatchHeader.size) else {
            return .invalid(position: position, reason: "\(remaining) trailing bytes, fewer than a batch header")
        }
        guard try ensureBuffered(RecordBatchHeader.size) else {
            return .invalid(position: position, reason: "file ends before the batch header")
        }
        let index = buffer.readerIndex + Int(position - bufferStart)
        let header: RecordBatchHeader
        do throws(RecordBatchError) {
            header = try RecordBatchHeader(parsing: buffer, at: index)
        } catch {
            return .invalid(position: position, reason: error.description)
        }
        guard Int64(header.totalSize) <= remaining else {
            return .invalid(
                position: position,
                reason: "batch of \(header.totalSize) bytes but only \(remaining) left in the segment")
        }
        guard header.lastOffsetDelta >= 0 else {
            return .invalid(position: position, reason: "negative lastOffsetDelta \(header.lastOffsetDelta)")
        }
        var bytes: ByteBuffer?
        if verifyCRC || wantBytes {
            guard try ensureBuffered(header.totalSize) else {
                return .invalid(position: position, reason: "file ends inside the batch")
            }
            let index = buffer.readerIndex + Int(position - bufferStart)
            if verifyCRC {
                do throws(RecordBatchError) {
                    try header.verifyCRC(in: buffer, at: index)
                } catch {
                    return .invalid(position: position, reason: error.description)
                }
            }
            if wantBytes { bytes = buffer.getSlice(at: index, length: header.totalSize) }
        }
        let batchPosition = position
        position += Int64(header.totalSize)
        return .batch(header, position: batchPosition, bytes: bytes)
    }

    /// Makes `count` bytes from `position` available in `buffer`; false if the file is shorter.
    private mutating func ensureBuffered(_ count: Int) throws(LogError) -> Bool {
        let have = Int64(buffer.readableBytes) - (position - bufferStart)
        if have >= Int64(count) { return true }
        let length = Int(min(Int64(max(count, chunkSize)), end - position))
        buffer = ByteBufferAllocator().buffer(capacity: length)
        bufferStart = position
        let read = try file.read(into: &buffer, count: length, at: position)
        return read >= count
    }
}
