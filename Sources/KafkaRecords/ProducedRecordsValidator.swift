import NIOCore

/// What the broker checks on the records of one partition of a Produce request before storing
/// them (the checks of Kafka's LogValidator that apply to v2 batches, see RECORD-FORMAT.md §2):
///
/// - exactly one batch (Produce v3+), magic 2, its length matching the bytes sent;
/// - CRC-32C of attributes..end;
/// - lastOffsetDelta + 1 == recordsCount > 0;
/// - no control batch, no LogAppendTime bit, a known codec, reserved attribute bits zero;
/// - an idempotent batch (producerId >= 0) has baseSequence >= 0;
/// - the batch is no larger than `maxBatchBytes`;
/// - uncompressed: every record's framing is walked (lengths, offset deltas, count) without
///   allocating; compressed: left as is, unless `requireKeys` (compacted topics), when the records
///   are decoded to check every key is present.
///
/// The batch is never rewritten: the broker stores and serves the bytes as they came.
public enum ProducedRecordsValidator {
    public static func validate(_ records: ByteBuffer, maxBatchBytes: Int, requireKeys: Bool) throws(RecordBatchError) -> StoredBatch {
        guard records.readableBytes > 0 else { throw .emptyRecords }
        let start = records.readerIndex
        let header = try RecordBatchHeader(parsing: records, at: start)
        let size = header.totalSize
        guard size <= records.readableBytes else {
            throw .truncated(needed: size, available: records.readableBytes)
        }
        if records.readableBytes > size {
            // A second batch (or garbage) after the first.
            if records.readableBytes - size >= RecordBatchHeader.size { throw .multipleBatches }
            throw .trailingBytes(records.readableBytes - size)
        }
        guard size <= maxBatchBytes else { throw .batchTooLarge(size: size, limit: maxBatchBytes) }
        try header.verifyCRC(in: records, at: start)
        guard header.recordsCount > 0, Int64(header.lastOffsetDelta) + 1 == Int64(header.recordsCount) else {
            throw .invalidRecordCount(lastOffsetDelta: header.lastOffsetDelta, recordsCount: header.recordsCount)
        }
        guard header.attributes & ~0x7F == 0 else { throw .reservedAttributeBits(header.attributes) }
        guard let codec = header.compression else { throw .unknownCompression(header.attributes & 0x07) }
        if header.isControl { throw .controlBatchFromClient }
        if header.timestampType == .logAppendTime { throw .logAppendTimeFromClient }
        if header.producerId >= 0, header.baseSequence < 0 {
            throw .missingSequence(producerId: header.producerId, baseSequence: header.baseSequence)
        }
        let batch = StoredBatch(header: header, bytes: records.getSlice(at: start, length: size)!)
        if codec == .none {
            var failure: RecordBatchError?
            records.withUnsafeReadableBytes { raw in
                do throws(RecordBatchError) {
                    try RecordFraming.walk(raw, from: RecordBatchHeader.size, to: size,
                                                expectedCount: header.recordsCount, requireKeys: requireKeys)
                } catch { failure = error }
            }
            if let failure { throw failure }
        } else if requireKeys {
            for record in try RecordBatchDecoder.records(in: batch) where record.key == nil {
                throw .missingKey(offsetDelta: Int32(record.offset - header.baseOffset))
            }
        }
        return batch
    }
}
