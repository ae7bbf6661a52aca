import NIOCore

/// What a broker checks on the records of one partition of a Produce request (v3+), following
/// Kafka's LogValidator. This is the produce hot path: the CRC runs in hardware and nothing is
/// allocated per record. Compressed batches are decompressed once to check their records (as
/// Kafka does; a producer bug can compute a valid CRC over garbage), but stored exactly as they
/// came.
///
/// Checks, in order (the error's ``RecordBatchError/kafkaErrorCode`` is what the broker returns):
/// 1. there is a batch: `emptyRecords` (87); at least a full header: `truncated` (2);
///    magic 2: `unsupportedMagic` (87); a sane batchLength: `invalidBatchLength` (2)
/// 2. batchLength matches the buffer: missing bytes `truncated` (2); a second batch after it
///    `multipleBatches` (87); other extra bytes `trailingBytes` (2)
/// 3. baseOffset 0, as Kafka requires of clients since 3.x: `nonZeroBaseOffset` (87). Kafka
///    refuses such a batch although it would overwrite the offsets anyway, so a lenient broker
///    here would hide a client bug that stalls against Kafka.
/// 4. size <= maxBatchBytes: `batchTooLarge` (10)
/// 5. CRC-32C over attributes..end: `crcMismatch` (2)
/// 6. attributes: known codec `unknownCompression` (76); bits 7-15 zero `reservedAttributeBits` (87);
///    no control batch `controlBatchFromClient` (87); no LogAppendTime `logAppendTimeFromClient` (32)
/// 7. lastOffsetDelta + 1 == recordsCount > 0: `invalidRecordCount` (87)
/// 8. producerId >= 0 implies baseSequence >= 0: `missingSequence` (87)
/// 9. every record's framing (lengths, field boundaries, offset deltas 0,1,2..., count, nothing
///    after the last record): `corruptRecords` (87). Compressed batches are decompressed for this
///    (bounded by `maxDecompressedBytes`, else `decompressedTooLarge` (10); undecodable data
///    `decompressionFailed` (87)).
/// 10. with `requireKeys` (compacted topics): every key present, `missingKey` (87).
/// 11. with `acceptedTimestamps` (CreateTime topics with message.timestamp.before/after.max.ms
///    set): every record's timestamp in the window, `timestampOutOfRange` (32), as Kafka checks
///    each record and not only the header's.
///
/// Not checked here: codec-per-API-version rules (zstd needs Produce v7+), transactional batches
/// and producer sequences, which belong to the request handler and the producer state.
public enum ProducedRecordsValidator {
    /// Validates the records bytes of one partition (all readable bytes of `records`) and returns
    /// the single batch they hold, sharing `records`' storage.
    public static func validate(
        _ records: ByteBuffer,
        maxBatchBytes: Int,
        requireKeys: Bool,
        acceptedTimestamps: ClosedRange<Int64>? = nil,
        maxDecompressedBytes: Int = 64 << 20
    ) throws(RecordBatchError) -> StoredBatch {
        let start = records.readerIndex
        let available = records.readableBytes
        guard available > 0 else { throw .emptyRecords }

        // 1-2. One whole batch and nothing else.
        let header = try RecordBatchHeader(parsing: records, at: start)
        let size = header.totalSize
        guard size <= available else { throw .truncated(needed: size, available: available) }
        if size < available {
            let next = start + size
            if available - size >= RecordBatchHeader.size,
                (try? RecordBatchHeader(parsing: records, at: next)) != nil
            {
                throw .multipleBatches
            }
            throw .trailingBytes(available - size)
        }

        // 3. The broker assigns offsets; a client's batch starts at 0.
        guard header.baseOffset == 0 else { throw .nonZeroBaseOffset(header.baseOffset) }

        // 4. Size limit (max.message.bytes applies to the whole batch).
        guard size <= maxBatchBytes else { throw .batchTooLarge(size: size, limit: maxBatchBytes) }

        // 5. Integrity before trusting any other field.
        try header.verifyCRC(in: records, at: start)

        // 6. Attributes.
        guard let codec = header.compression else { throw .unknownCompression(header.attributes & 0x07) }
        guard header.attributes & ~0x7F == 0 else { throw .reservedAttributeBits(header.attributes) }
        guard !header.isControl else { throw .controlBatchFromClient }
        guard header.timestampType == .createTime else { throw .logAppendTimeFromClient }

        // 7. Offsets and count agree.
        guard header.recordsCount > 0, Int64(header.lastOffsetDelta) + 1 == Int64(header.recordsCount) else {
            throw .invalidRecordCount(lastOffsetDelta: header.lastOffsetDelta, recordsCount: header.recordsCount)
        }

        // 8. Idempotent batches carry a sequence.
        if header.producerId >= 0 && header.baseSequence < 0 {
            throw .missingSequence(producerId: header.producerId, baseSequence: header.baseSequence)
        }

        // 9-11. Records.
        let timestamps = acceptedTimestamps.map { (base: header.baseTimestamp, accepted: $0) }
        if codec == .none {
            try walkRecords(
                records, from: start + RecordBatchHeader.size, to: start + size,
                count: header.recordsCount, requireKeys: requireKeys, timestamps: timestamps)
        } else {
            let area = records.getSlice(at: start + RecordBatchHeader.size, length: size - RecordBatchHeader.size)!
            let decompressed = try Compression.decompress(area, codec: codec, maxSize: maxDecompressedBytes)
            try walkRecords(
                decompressed, from: decompressed.readerIndex, to: decompressed.writerIndex,
                count: header.recordsCount, requireKeys: requireKeys, timestamps: timestamps)
        }

        return StoredBatch(header: header, bytes: records.getSlice(at: start, length: size)!)
    }

    /// Runs ``RecordFraming/walk`` over absolute indices `[from, to)` of `buffer`.
    private static func walkRecords(
        _ buffer: ByteBuffer, from: Int, to: Int, count: Int32, requireKeys: Bool,
        timestamps: (base: Int64, accepted: ClosedRange<Int64>)?
    ) throws(RecordBatchError) {
        let result: Result<Void, RecordBatchError> = buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(RecordBatchError) in
                let base = buffer.readerIndex
                try RecordFraming.walk(
                    bytes, from: from - base, to: to - base, expectedCount: count, requireKeys: requireKeys,
                    timestamps: timestamps)
            }
        }
        try result.get()
    }
}
