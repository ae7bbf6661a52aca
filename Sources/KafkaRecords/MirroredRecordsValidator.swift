import NIOCore

/// What a broker checks on the records of one partition of a `StraitMirrorAppend` request: one
/// or more whole batches exactly as a source broker stored and served them (see docs/broker.md,
/// "Mirror topics"). They are the source's history, so unlike ``ProducedRecordsValidator`` this
/// accepts what only a broker writes: control batches (transaction markers), transactional
/// batches, LogAppendTime, batches whose offset range has gaps or no records at all (compaction
/// thins batches but keeps their base and last offsets), and any base offset.
///
/// Checks, per batch (errors map to Kafka codes as in ``RecordBatchError/kafkaErrorCode``):
/// 1. a whole magic-2 batch with a sane length: `truncated`, `unsupportedMagic`, `invalidBatchLength`
/// 2. size <= maxBatchBytes: `batchTooLarge`
/// 3. CRC-32C: `crcMismatch`
/// 4. known codec `unknownCompression`; bits 7-15 zero `reservedAttributeBits`
/// 5. baseOffset >= 0, lastOffsetDelta >= 0, 0 <= recordsCount <= lastOffsetDelta + 1, and each
///    batch starting after the previous one's last offset: `invalidRecordCount` / `corruptRecords`
/// 6. record framing with offset deltas strictly increasing within 0...lastOffsetDelta
///    (compressed batches are decompressed for this, as for produce, and stored as they came).
public enum MirroredRecordsValidator {
    /// Validates all readable bytes of `records` and returns their batches in order (none for an
    /// empty buffer), sharing `records`' storage.
    public static func validate(
        _ records: ByteBuffer, maxBatchBytes: Int,
        maxDecompressedBytes: Int = 64 << 20
    ) throws(RecordBatchError) -> [StoredBatch] {
        var batches: [StoredBatch] = []
        var index = records.readerIndex
        var previousLast: Int64 = -1
        while index < records.writerIndex {
            let available = records.writerIndex - index
            let header = try RecordBatchHeader(parsing: records, at: index)
            let size = header.totalSize
            guard size <= available else { throw .truncated(needed: size, available: available) }
            guard size <= maxBatchBytes else { throw .batchTooLarge(size: size, limit: maxBatchBytes) }
            try header.verifyCRC(in: records, at: index)
            guard let codec = header.compression else { throw .unknownCompression(header.attributes & 0x07) }
            guard header.attributes & ~0x7F == 0 else { throw .reservedAttributeBits(header.attributes) }
            guard header.lastOffsetDelta >= 0, header.recordsCount >= 0,
                Int64(header.recordsCount) <= Int64(header.lastOffsetDelta) + 1
            else {
                throw .invalidRecordCount(lastOffsetDelta: header.lastOffsetDelta, recordsCount: header.recordsCount)
            }
            guard header.baseOffset >= 0, header.baseOffset > previousLast else {
                throw .corruptRecords(
                    "batch at offset \(header.baseOffset) does not follow the previous batch's last offset \(previousLast)"
                )
            }
            let areaStart = index + RecordBatchHeader.size
            if codec == .none {
                try walk(records, from: areaStart, to: index + size, header: header)
            } else if size > RecordBatchHeader.size || header.recordsCount > 0 {
                let area = records.getSlice(at: areaStart, length: size - RecordBatchHeader.size)!
                let decompressed = try Compression.decompress(area, codec: codec, maxSize: maxDecompressedBytes)
                try walk(decompressed, from: decompressed.readerIndex, to: decompressed.writerIndex, header: header)
            }
            batches.append(StoredBatch(header: header, bytes: records.getSlice(at: index, length: size)!))
            previousLast = header.lastOffset
            index += size
        }
        return batches
    }

    private static func walk(_ buffer: ByteBuffer, from: Int, to: Int, header: RecordBatchHeader)
        throws(RecordBatchError)
    {
        let result: Result<Void, RecordBatchError> = buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(RecordBatchError) in
                let base = buffer.readerIndex
                try RecordFraming.walk(
                    bytes, from: from - base, to: to - base, expectedCount: header.recordsCount,
                    requireKeys: false, gapsUpTo: header.lastOffsetDelta)
            }
        }
        try result.get()
    }
}
