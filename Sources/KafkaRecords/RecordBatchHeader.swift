import NIOCore
import KafkaProtocol

/// Compression codec in bits 0-2 of a batch's attributes.
public enum CompressionCodec: Int16, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4

    public var description: String {
        switch self {
        case .none: "none"
        case .gzip: "gzip"
        case .snappy: "snappy"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }
}

public enum TimestampType: Sendable, Equatable {
    case createTime, logAppendTime
}

/// Why a record batch (or its records) was refused.
///
/// Every case maps to the Kafka error code a broker returns for it in a Produce response
/// (``kafkaErrorCode``):
///
/// | Case | Kafka error | Code | Retriable for the Java client |
/// |---|---|---|---|
/// | truncated, invalidBatchLength, crcMismatch, trailingBytes | CORRUPT_MESSAGE | 2 | yes (bytes damaged in transit) |
/// | batchTooLarge, decompressedTooLarge | MESSAGE_TOO_LARGE | 10 | no (the Java producer splits the batch) |
/// | unknownCompression | UNSUPPORTED_COMPRESSION_TYPE | 76 | no |
/// | logAppendTimeFromClient, timestampOutOfRange | INVALID_TIMESTAMP | 32 | no |
/// | unsupportedMagic, emptyRecords, multipleBatches, nonZeroBaseOffset, invalidRecordCount, reservedAttributeBits, controlBatchFromClient, missingSequence, missingKey, corruptRecords, decompressionFailed | INVALID_RECORD | 87 | no (the CRC matched, so the client built it this way) |
/// | compressionFailed | UNKNOWN_SERVER_ERROR | -1 | (only raised when we compress) |
public enum RecordBatchError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case unsupportedMagic(Int8)
    case invalidBatchLength(Int32)
    case crcMismatch(stored: UInt32, computed: UInt32)
    case invalidRecordCount(lastOffsetDelta: Int32, recordsCount: Int32)
    case unknownCompression(Int16)
    case reservedAttributeBits(Int16)
    case corruptRecords(String)
    /// A Produce partition carried no record batch at all.
    case emptyRecords
    /// A Produce partition carried more than one batch (Produce v3+ allows exactly one).
    case multipleBatches
    /// Bytes after the batch that do not form another batch.
    case trailingBytes(Int)
    /// The batch is larger than the topic's `max.message.bytes`.
    case batchTooLarge(size: Int, limit: Int)
    /// A client's batch must start at offset 0: the broker assigns offsets (Kafka's rule for
    /// magic 2 since 3.x; the CRC does not cover baseOffset).
    case nonZeroBaseOffset(Int64)
    /// A record's timestamp lies outside the topic's message.timestamp.before/after.max.ms window.
    case timestampOutOfRange(timestamp: Int64, offsetDelta: Int32, accepted: ClosedRange<Int64>)
    /// Clients may not write transaction markers.
    case controlBatchFromClient
    /// Clients may not set the LogAppendTime attribute; the broker decides that.
    case logAppendTimeFromClient
    /// An idempotent batch (producerId >= 0) without a base sequence.
    case missingSequence(producerId: Int64, baseSequence: Int32)
    /// A record without a key sent to a compacted topic.
    case missingKey(offsetDelta: Int32)
    /// The compressed records area could not be decompressed.
    case decompressionFailed(CompressionCodec, String)
    /// Decompression would produce more than the allowed number of bytes (decompression bomb guard).
    case decompressedTooLarge(CompressionCodec, limit: Int)
    /// The compression library refused to compress (should not happen with valid input).
    case compressionFailed(CompressionCodec, String)

    public var description: String {
        switch self {
        case let .truncated(needed, available): "batch truncated: needs \(needed) bytes, \(available) available"
        case let .unsupportedMagic(m): "unsupported record batch magic \(m) (only v2 is supported)"
        case let .invalidBatchLength(l): "invalid batch length \(l)"
        case let .crcMismatch(s, c):
            "CRC-32C mismatch: batch says \(String(s, radix: 16)), computed \(String(c, radix: 16))"
        case let .invalidRecordCount(d, c): "lastOffsetDelta \(d) does not match record count \(c)"
        case let .unknownCompression(c): "unknown compression codec \(c)"
        case let .reservedAttributeBits(a): "reserved attribute bits set: 0x\(String(a, radix: 16))"
        case let .corruptRecords(why): "corrupt records: \(why)"
        case .emptyRecords: "no record batch in the request"
        case .multipleBatches: "more than one record batch for one partition (Produce v3+ allows exactly one)"
        case let .trailingBytes(n): "\(n) bytes after the record batch"
        case let .batchTooLarge(size, limit): "record batch of \(size) bytes exceeds the limit of \(limit) bytes"
        case let .nonZeroBaseOffset(offset): "the baseOffset of the record batch should be 0, but it is \(offset)"
        case let .timestampOutOfRange(timestamp, delta, accepted):
            "timestamp \(timestamp) of the record at offset delta \(delta) is out of range; "
                + "it should be within [\(accepted.lowerBound), \(accepted.upperBound)]"
        case .controlBatchFromClient: "clients are not allowed to write control batches"
        case .logAppendTimeFromClient: "clients are not allowed to set the LogAppendTime attribute"
        case let .missingSequence(pid, seq): "batch with producerId \(pid) has invalid base sequence \(seq)"
        case let .missingKey(delta): "record at offset delta \(delta) has no key (compacted topics require keys)"
        case let .decompressionFailed(codec, why): "\(codec) decompression failed: \(why)"
        case let .decompressedTooLarge(codec, limit): "\(codec) data decompresses to more than \(limit) bytes"
        case let .compressionFailed(codec, why): "\(codec) compression failed: \(why)"
        }
    }

    /// The Kafka error code a broker returns for this failure (see the table above).
    public var kafkaErrorCode: KafkaErrorCode {
        switch self {
        case .truncated, .invalidBatchLength, .crcMismatch, .trailingBytes:
            .corruptMessage
        case .batchTooLarge, .decompressedTooLarge:
            .messageTooLarge
        case .unknownCompression:
            .unsupportedCompressionType
        case .logAppendTimeFromClient, .timestampOutOfRange:
            .invalidTimestamp
        case .unsupportedMagic, .emptyRecords, .multipleBatches, .nonZeroBaseOffset, .invalidRecordCount,
            .reservedAttributeBits, .controlBatchFromClient, .missingSequence, .missingKey, .corruptRecords,
            .decompressionFailed:
            .invalidRecord
        case .compressionFailed:
            .unknownServerError
        }
    }
}

/// The fixed 61-byte header of a record batch (magic v2). All integers big-endian.
///
/// ```
///  0 baseOffset int64 | 8 batchLength int32 | 12 partitionLeaderEpoch int32 | 16 magic int8
/// 17 crc uint32 (CRC-32C of bytes 21..end) | 21 attributes int16 | 23 lastOffsetDelta int32
/// 27 baseTimestamp int64 | 35 maxTimestamp int64 | 43 producerId int64 | 51 producerEpoch int16
/// 53 baseSequence int32 | 57 recordsCount int32 | 61 records...
/// ```
public struct RecordBatchHeader: Sendable, Equatable {
    public static let size = 61
    /// Bytes before `batchLength` counts: baseOffset + batchLength itself.
    public static let logOverhead = 12
    public static let crcOffset = 17
    public static let attributesOffset = 21

    public var baseOffset: Int64
    public var batchLength: Int32
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    public var crc: UInt32
    public var attributes: Int16
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordsCount: Int32

    /// Size of the whole batch on the wire and on disk.
    public var totalSize: Int { Int(batchLength) + Self.logOverhead }
    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    public var nextOffset: Int64 { lastOffset + 1 }
    public var compression: CompressionCodec? { CompressionCodec(rawValue: attributes & 0x07) }
    public var timestampType: TimestampType { attributes & 0x08 != 0 ? .logAppendTime : .createTime }
    public var isTransactional: Bool { attributes & 0x10 != 0 }
    public var isControl: Bool { attributes & 0x20 != 0 }
    public var hasDeleteHorizon: Bool { attributes & 0x40 != 0 }
    public var isIdempotent: Bool { producerId >= 0 }
    /// Sequence number of the last record, wrapping at Int32.max as Kafka does.
    public var lastSequence: Int32 {
        baseSequence < 0 ? -1 : Int32((Int64(baseSequence) + Int64(lastOffsetDelta)) % (Int64(Int32.max) + 1))
    }

    /// Parses the header at absolute `index` of `buffer` without moving its reader index.
    /// Checks only that 61 bytes are there and the magic is 2.
    public init(parsing buffer: ByteBuffer, at index: Int) throws(RecordBatchError) {
        let available = buffer.writerIndex - index
        guard available >= Self.size else {
            // A batch shorter than 17 bytes cannot even show its magic; report truncation.
            if available >= 17, let magic = buffer.getInteger(at: index + 16, as: Int8.self), magic != 2 {
                throw .unsupportedMagic(magic)
            }
            throw .truncated(needed: Self.size, available: max(0, available))
        }
        func get<T: FixedWidthInteger>(_ offset: Int, _ type: T.Type = T.self) -> T {
            buffer.getInteger(at: index + offset, endianness: .big, as: T.self)!
        }
        magic = get(16)
        guard magic == 2 else { throw .unsupportedMagic(magic) }
        baseOffset = get(0)
        batchLength = get(8)
        partitionLeaderEpoch = get(12)
        crc = get(17)
        attributes = get(21)
        lastOffsetDelta = get(23)
        baseTimestamp = get(27)
        maxTimestamp = get(35)
        producerId = get(43)
        producerEpoch = get(51)
        baseSequence = get(53)
        recordsCount = get(57)
        guard batchLength >= Int32(Self.size - Self.logOverhead) else { throw .invalidBatchLength(batchLength) }
    }

    /// Computes the CRC over bytes 21..end of the batch that starts at `index` and compares it.
    /// Requires the whole batch to be readable.
    public func verifyCRC(in buffer: ByteBuffer, at index: Int) throws(RecordBatchError) {
        let end = index + totalSize
        guard end <= buffer.writerIndex else {
            throw .truncated(needed: totalSize, available: buffer.writerIndex - index)
        }
        let computed = CRC32C.checksum(
            buffer, at: index + Self.attributesOffset, length: totalSize - Self.attributesOffset)
        guard computed == crc else { throw .crcMismatch(stored: crc, computed: computed) }
    }
}

/// One batch as stored and served: its parsed header and its exact bytes (never re-encoded).
public struct StoredBatch: Sendable {
    public var header: RecordBatchHeader
    /// The whole batch, `header.totalSize` bytes, reader index at its first byte.
    public var bytes: ByteBuffer

    public init(header: RecordBatchHeader, bytes: ByteBuffer) {
        self.header = header
        self.bytes = bytes
    }

    /// Rewrites baseOffset (bytes 0-7); the CRC does not cover it.
    public mutating func assignBaseOffset(_ offset: Int64) {
        header.baseOffset = offset
        bytes.setInteger(offset, at: bytes.readerIndex, endianness: .big)
    }

    /// Stamps partitionLeaderEpoch (bytes 12-15); the CRC does not cover it.
    public mutating func stampLeaderEpoch(_ epoch: Int32) {
        header.partitionLeaderEpoch = epoch
        bytes.setInteger(epoch, at: bytes.readerIndex + 12, endianness: .big)
    }
}

public enum RecordBatches {
    /// Splits back-to-back batches. With `verifyCRC`, every batch's checksum is checked.
    /// Throws at the first batch that is truncated or invalid; `allowTrailingPartial`
    /// instead stops there silently (fetch responses may end in a partial batch).
    public static func split(_ buffer: ByteBuffer, verifyCRC: Bool, allowTrailingPartial: Bool = false)
        throws(RecordBatchError) -> [StoredBatch]
    {
        var batches: [StoredBatch] = []
        var index = buffer.readerIndex
        while index < buffer.writerIndex {
            let header: RecordBatchHeader
            do {
                header = try RecordBatchHeader(parsing: buffer, at: index)
            } catch {
                if allowTrailingPartial, case .truncated = error { break }
                throw error
            }
            guard index + header.totalSize <= buffer.writerIndex else {
                if allowTrailingPartial { break }
                throw .truncated(needed: header.totalSize, available: buffer.writerIndex - index)
            }
            if verifyCRC { try header.verifyCRC(in: buffer, at: index) }
            batches.append(StoredBatch(header: header, bytes: buffer.getSlice(at: index, length: header.totalSize)!))
            index += header.totalSize
        }
        return batches
    }
}
