import NIOCore

/// The records of one stored batch, located inside its (decompressed) records area, so that a
/// subset of them can be written back as a new batch without decoding and re-encoding every
/// field. Used by log compaction.
///
/// A rebuilt batch keeps everything the original header says about offsets and producers:
/// baseOffset, lastOffsetDelta (so it still spans its original offset range), partitionLeaderEpoch,
/// producerId, producerEpoch, baseSequence, attributes (codec included) and maxTimestamp. Only
/// recordsCount, batchLength and the CRC change, and, when a delete horizon is stamped, the
/// hasDeleteHorizon attribute and baseTimestamp (see ``rebuilt(keeping:deleteHorizon:)``).
/// Kept records keep their offset deltas.
public struct RecordBatchRecords: Sendable {
    /// One record's place in the records area and the fields compaction looks at.
    public struct Entry: Sendable, Equatable {
        public var offsetDelta: Int32
        public var timestampDelta: Int64
        public var key: [UInt8]?
        /// The value is null.
        public var isTombstone: Bool
        /// The record's bytes in the area, its length varint included.
        var start: Int
        var end: Int
        /// Where the fields after timestampDelta (offsetDelta onwards) begin.
        var afterTimestamp: Int
    }

    public let header: RecordBatchHeader
    public let entries: [Entry]
    /// The records area, decompressed.
    let area: ByteBuffer
    /// The original batch bytes (returned unchanged when every record is kept).
    let original: StoredBatch

    /// Locates the records of `batch`, checking their framing as strictly as the decoder does.
    public init(_ batch: StoredBatch, maxDecompressedBytes: Int = 64 << 20) throws(RecordBatchError) {
        let header = batch.header
        guard batch.bytes.readableBytes == header.totalSize else {
            throw .corruptRecords("batch has \(batch.bytes.readableBytes) bytes, header says \(header.totalSize)")
        }
        guard let codec = header.compression else { throw .unknownCompression(header.attributes & 0x07) }
        guard header.recordsCount >= 0 else { throw .corruptRecords("negative record count \(header.recordsCount)") }
        var area = batch.bytes.getSlice(
            at: batch.bytes.readerIndex + RecordBatchHeader.size,
            length: header.totalSize - RecordBatchHeader.size)!
        if codec != .none {
            area = try Compression.decompress(area, codec: codec, maxSize: maxDecompressedBytes)
        }
        let expected = Int(header.recordsCount)
        let result: Result<[Entry], RecordBatchError> = area.withUnsafeReadableBytes { bytes in
            Result { () throws(RecordBatchError) in try Self.locate(bytes, expected: expected) }
        }
        self.header = header
        self.entries = try result.get()
        self.area = area
        self.original = batch
    }

    private static func locate(_ bytes: UnsafeRawBufferPointer, expected: Int) throws(RecordBatchError) -> [Entry] {
        var entries: [Entry] = []
        entries.reserveCapacity(min(expected, bytes.count / RecordFraming.minimumRecordSize))
        var index = 0
        while index < bytes.count {
            guard entries.count < expected else {
                throw .corruptRecords("more than the \(expected) records the header announces")
            }
            let start = index
            let recordEnd = try RecordFraming.recordBounds(bytes, &index, end: bytes.count, number: entries.count)
            index += 1  // attributes
            let timestampDelta = try VarintCoding.readVarlong(bytes, &index, end: recordEnd)
            let afterTimestamp = index
            let offsetDelta = try VarintCoding.readVarint(bytes, &index, end: recordEnd)
            let key = try RecordBatchDecoder.readNullableBytes(bytes, &index, end: recordEnd, what: "key")
            let hasValue = try RecordFraming.skipNullableBytes(bytes, &index, end: recordEnd, what: "value")
            let headerCount = try VarintCoding.readVarint(bytes, &index, end: recordEnd)
            guard headerCount >= 0 else { throw .corruptRecords("negative header count \(headerCount)") }
            for _ in 0..<headerCount {
                guard try RecordFraming.skipNullableBytes(bytes, &index, end: recordEnd, what: "header key") else {
                    throw .corruptRecords("null header key")
                }
                _ = try RecordFraming.skipNullableBytes(bytes, &index, end: recordEnd, what: "header value")
            }
            guard index == recordEnd else {
                throw .corruptRecords("record \(entries.count) has \(recordEnd - index) bytes beyond its fields")
            }
            entries.append(
                Entry(
                    offsetDelta: offsetDelta, timestampDelta: timestampDelta, key: key, isTombstone: !hasValue,
                    start: start, end: recordEnd, afterTimestamp: afterTimestamp))
        }
        guard entries.count == expected else {
            throw .corruptRecords("found \(entries.count) records, header announces \(expected)")
        }
        return entries
    }

    /// The delete horizon stamped on the batch (KIP-534: baseTimestamp when bit 6 is set), if any.
    public var deleteHorizon: Int64? { header.hasDeleteHorizon ? header.baseTimestamp : nil }

    /// A batch holding only the entries at `indices` (ascending, non-empty), compressed with the
    /// original codec, with a recomputed CRC.
    ///
    /// With `deleteHorizon` on a batch that has none yet, the batch is stamped with it (KIP-534):
    /// the hasDeleteHorizon attribute is set and baseTimestamp becomes the horizon; every kept
    /// record's timestampDelta is rebased so record timestamps stay exactly as they were. A batch
    /// that already carries a horizon keeps its own.
    public func rebuilt(keeping indices: [Int], deleteHorizon: Int64? = nil) throws(RecordBatchError) -> StoredBatch {
        precondition(!indices.isEmpty, "a rebuilt batch needs at least one record")
        let stamp = header.hasDeleteHorizon ? nil : deleteHorizon
        if stamp == nil && indices.count == entries.count { return original }

        var records = ByteBuffer()
        records.reserveCapacity(
            indices.reduce(0) { $0 + entries[$1].end - entries[$1].start + (stamp == nil ? 0 : 10) })
        for index in indices {
            let entry = entries[index]
            if let stamp {
                // length | attributes | timestampDelta (rebased) | the rest unchanged
                let delta = header.baseTimestamp &+ entry.timestampDelta &- stamp
                let rest = entry.end - entry.afterTimestamp
                let body = 1 + ByteBuffer.varlongSize(delta) + rest
                records.writeVarint(Int32(body))
                records.writeInteger(UInt8(0))
                records.writeVarlong(delta)
                var slice = area.getSlice(at: area.readerIndex + entry.afterTimestamp, length: rest)!
                records.writeBuffer(&slice)
            } else {
                var slice = area.getSlice(at: area.readerIndex + entry.start, length: entry.end - entry.start)!
                records.writeBuffer(&slice)
            }
        }
        let codec = header.compression ?? .none
        if codec != .none { records = try Compression.compress(records, codec: codec) }

        let totalSize = RecordBatchHeader.size + records.readableBytes
        guard totalSize - RecordBatchHeader.logOverhead <= Int(Int32.max) else {
            throw .batchTooLarge(size: totalSize, limit: Int(Int32.max))
        }
        var attributes = header.attributes
        var baseTimestamp = header.baseTimestamp
        if let stamp {
            attributes |= 0x40
            baseTimestamp = stamp
        }
        var bytes = ByteBuffer()
        bytes.reserveCapacity(totalSize)
        bytes.writeInteger(header.baseOffset, endianness: .big)
        bytes.writeInteger(Int32(totalSize - RecordBatchHeader.logOverhead), endianness: .big)
        bytes.writeInteger(header.partitionLeaderEpoch, endianness: .big)
        bytes.writeInteger(Int8(2), endianness: .big)
        bytes.writeInteger(UInt32(0), endianness: .big)  // CRC, below
        bytes.writeInteger(attributes, endianness: .big)
        bytes.writeInteger(header.lastOffsetDelta, endianness: .big)
        bytes.writeInteger(baseTimestamp, endianness: .big)
        bytes.writeInteger(header.maxTimestamp, endianness: .big)
        bytes.writeInteger(header.producerId, endianness: .big)
        bytes.writeInteger(header.producerEpoch, endianness: .big)
        bytes.writeInteger(header.baseSequence, endianness: .big)
        bytes.writeInteger(Int32(indices.count), endianness: .big)
        bytes.writeBuffer(&records)
        let crc = CRC32C.checksum(
            bytes, at: bytes.readerIndex + RecordBatchHeader.attributesOffset,
            length: totalSize - RecordBatchHeader.attributesOffset)
        bytes.setInteger(crc, at: bytes.readerIndex + RecordBatchHeader.crcOffset, endianness: .big)
        let rebuiltHeader = try RecordBatchHeader(parsing: bytes, at: bytes.readerIndex)
        return StoredBatch(header: rebuiltHeader, bytes: bytes)
    }
}
