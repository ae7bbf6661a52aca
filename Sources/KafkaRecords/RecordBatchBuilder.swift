import NIOCore

/// Builds a record batch v2: encodes records with deltas, compresses them, fills in the header
/// (lastOffsetDelta, baseTimestamp, maxTimestamp, attributes, recordsCount) and the CRC-32C.
///
/// ```swift
/// var builder = RecordBatchBuilder(baseOffset: 0, codec: .lz4)
/// builder.append(key: Array("k".utf8), value: Array("v".utf8), timestamp: 1_700_000_000_000)
/// let batch = try builder.build()
/// ```
///
/// Records get offset deltas 0, 1, 2... in append order; a `Record`'s own `offset` is ignored.
public struct RecordBatchBuilder: Sendable {
    public var baseOffset: Int64
    public var codec: CompressionCodec
    /// Codec-specific level; nil uses the codec's default (gzip 6, lz4 fast, zstd 3).
    public var compressionLevel: Int?
    public var partitionLeaderEpoch: Int32
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var isTransactional: Bool
    /// Control batches carry transaction markers (written by the broker, never by clients).
    public var isControl: Bool
    /// When set, the batch is marked LogAppendTime and this becomes its maxTimestamp
    /// (and so every record's timestamp when read). Record timestamps still give the deltas.
    public var logAppendTime: Int64?
    public private(set) var records: [Record]

    public init(
        baseOffset: Int64 = 0,
        codec: CompressionCodec = .none,
        compressionLevel: Int? = nil,
        partitionLeaderEpoch: Int32 = -1,
        producerId: Int64 = -1,
        producerEpoch: Int16 = -1,
        baseSequence: Int32 = -1,
        isTransactional: Bool = false,
        isControl: Bool = false,
        logAppendTime: Int64? = nil,
        records: [Record] = []
    ) {
        self.baseOffset = baseOffset
        self.codec = codec
        self.compressionLevel = compressionLevel
        self.partitionLeaderEpoch = partitionLeaderEpoch
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.isTransactional = isTransactional
        self.isControl = isControl
        self.logAppendTime = logAppendTime
        self.records = records
    }

    public var isEmpty: Bool { records.isEmpty }
    public var count: Int { records.count }

    public mutating func append(key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = [], timestamp: Int64) {
        records.append(Record(timestamp: timestamp, key: key, value: value, headers: headers))
    }

    public mutating func append(_ record: Record) {
        records.append(record)
    }

    /// The attributes word this builder writes.
    public var attributes: Int16 {
        var attributes = codec.rawValue
        if logAppendTime != nil { attributes |= 0x08 }
        if isTransactional { attributes |= 0x10 }
        if isControl { attributes |= 0x20 }
        return attributes
    }

    /// Encodes the batch. Requires at least one record (an empty batch only arises from compaction).
    public func build() throws(RecordBatchError) -> StoredBatch {
        precondition(!records.isEmpty, "RecordBatchBuilder.build() needs at least one record")
        precondition(records.count <= Int(Int32.max), "too many records for one batch")
        let baseTimestamp = records[0].timestamp
        let maxTimestamp = logAppendTime ?? records.lazy.map(\.timestamp).max()!

        var recordsArea = ByteBuffer()
        recordsArea.reserveCapacity(records.reduce(0) { $0 + Self.estimatedSize(of: $1) })
        for (index, record) in records.enumerated() {
            Self.encode(
                record, offsetDelta: Int32(index), timestampDelta: record.timestamp &- baseTimestamp, into: &recordsArea
            )
        }
        if codec != .none {
            recordsArea = try Compression.compress(recordsArea, codec: codec, level: compressionLevel)
        }

        let totalSize = RecordBatchHeader.size + recordsArea.readableBytes
        guard totalSize - RecordBatchHeader.logOverhead <= Int(Int32.max) else {
            throw .batchTooLarge(size: totalSize, limit: Int(Int32.max))
        }
        var bytes = ByteBuffer()
        bytes.reserveCapacity(totalSize)
        bytes.writeInteger(baseOffset, endianness: .big)
        bytes.writeInteger(Int32(totalSize - RecordBatchHeader.logOverhead), endianness: .big)
        bytes.writeInteger(partitionLeaderEpoch, endianness: .big)
        bytes.writeInteger(Int8(2), endianness: .big)  // magic
        bytes.writeInteger(UInt32(0), endianness: .big)  // CRC, filled in below
        bytes.writeInteger(attributes, endianness: .big)
        bytes.writeInteger(Int32(records.count - 1), endianness: .big)  // lastOffsetDelta
        bytes.writeInteger(baseTimestamp, endianness: .big)
        bytes.writeInteger(maxTimestamp, endianness: .big)
        bytes.writeInteger(producerId, endianness: .big)
        bytes.writeInteger(producerEpoch, endianness: .big)
        bytes.writeInteger(baseSequence, endianness: .big)
        bytes.writeInteger(Int32(records.count), endianness: .big)
        bytes.writeBuffer(&recordsArea)
        let crc = CRC32C.checksum(
            bytes, at: bytes.readerIndex + RecordBatchHeader.attributesOffset,
            length: totalSize - RecordBatchHeader.attributesOffset)
        bytes.setInteger(crc, at: bytes.readerIndex + RecordBatchHeader.crcOffset, endianness: .big)

        // Parsing our own output cannot fail; it keeps a single source of truth for the header.
        let header = try RecordBatchHeader(parsing: bytes, at: bytes.readerIndex)
        return StoredBatch(header: header, bytes: bytes)
    }

    /// Size of one record's body (everything after its length varint).
    static func bodySize(of record: Record, offsetDelta: Int32, timestampDelta: Int64) -> Int {
        var size = 1  // attributes
        size += ByteBuffer.varlongSize(timestampDelta)
        size += ByteBuffer.varintSize(offsetDelta)
        size += nullableBytesSize(record.key)
        size += nullableBytesSize(record.value)
        size += ByteBuffer.varintSize(Int32(record.headers.count))
        for header in record.headers {
            size += nullableBytesSize(header.key.utf8.count)
            size += nullableBytesSize(header.value)
        }
        return size
    }

    static func estimatedSize(of record: Record) -> Int {
        RecordBatchHeader.size / 4 + (record.key?.count ?? 0) + (record.value?.count ?? 0)
            + record.headers.reduce(0) { $0 + 10 + $1.key.utf8.count + ($1.value?.count ?? 0) }
    }

    static func encode(_ record: Record, offsetDelta: Int32, timestampDelta: Int64, into buffer: inout ByteBuffer) {
        let body = bodySize(of: record, offsetDelta: offsetDelta, timestampDelta: timestampDelta)
        buffer.writeVarint(Int32(body))
        buffer.writeInteger(UInt8(0))  // attributes
        buffer.writeVarlong(timestampDelta)
        buffer.writeVarint(offsetDelta)
        writeNullableBytes(record.key, into: &buffer)
        writeNullableBytes(record.value, into: &buffer)
        buffer.writeVarint(Int32(record.headers.count))
        for header in record.headers {
            buffer.writeVarint(Int32(header.key.utf8.count))
            buffer.writeString(header.key)
            writeNullableBytes(header.value, into: &buffer)
        }
    }

    private static func nullableBytesSize(_ bytes: [UInt8]?) -> Int {
        guard let bytes else { return 1 }
        return nullableBytesSize(bytes.count)
    }

    private static func nullableBytesSize(_ count: Int) -> Int {
        ByteBuffer.varintSize(Int32(count)) + count
    }

    private static func writeNullableBytes(_ bytes: [UInt8]?, into buffer: inout ByteBuffer) {
        guard let bytes else {
            buffer.writeVarint(-1)
            return
        }
        buffer.writeVarint(Int32(bytes.count))
        buffer.writeBytes(bytes)
    }
}
