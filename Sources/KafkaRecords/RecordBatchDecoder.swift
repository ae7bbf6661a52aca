import NIOCore

/// Decodes the records of a stored batch (decompressing if needed).
public enum RecordBatchDecoder {
    /// The records of `batch` with absolute offsets (baseOffset + offsetDelta) and timestamps
    /// (baseTimestamp + timestampDelta, or maxTimestamp for every record of a LogAppendTime batch).
    ///
    /// Framing is checked strictly: each record's fields end exactly at its length, the records
    /// end exactly at the end of the (decompressed) area, and their number equals the header's
    /// recordsCount. Offset deltas need not be consecutive (compaction leaves gaps).
    /// The CRC is not checked here; `RecordBatches.split(verifyCRC:)` does that.
    public static func records(in batch: StoredBatch, maxDecompressedBytes: Int = 64 << 20) throws(RecordBatchError)
        -> [Record]
    {
        let header = batch.header
        let available = batch.bytes.readableBytes
        guard available >= header.totalSize else { throw .truncated(needed: header.totalSize, available: available) }
        guard available == header.totalSize else { throw .trailingBytes(available - header.totalSize) }
        guard let codec = header.compression else { throw .unknownCompression(header.attributes & 0x07) }
        guard header.recordsCount >= 0 else { throw .corruptRecords("negative record count \(header.recordsCount)") }

        var area = batch.bytes.getSlice(
            at: batch.bytes.readerIndex + RecordBatchHeader.size,
            length: header.totalSize - RecordBatchHeader.size)!
        if codec != .none {
            area = try Compression.decompress(area, codec: codec, maxSize: maxDecompressedBytes)
        }
        let result: Result<[Record], RecordBatchError> = area.withUnsafeReadableBytes { bytes in
            Result { () throws(RecordBatchError) in try decode(bytes, header: header) }
        }
        return try result.get()
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, header: RecordBatchHeader) throws(RecordBatchError) -> [Record]
    {
        let expected = Int(header.recordsCount)
        // Every record takes at least 7 bytes, so a lying count cannot make us over-allocate.
        var records: [Record] = []
        records.reserveCapacity(min(expected, bytes.count / RecordFraming.minimumRecordSize))
        let logAppendTime = header.timestampType == .logAppendTime
        var index = 0
        let end = bytes.count
        while index < end {
            guard records.count < expected else {
                throw .corruptRecords("more than the \(expected) records the header announces")
            }
            let recordEnd = try RecordFraming.recordBounds(bytes, &index, end: end, number: records.count)
            index += 1  // attributes, unused
            let timestampDelta = try VarintCoding.readVarlong(bytes, &index, end: recordEnd)
            let offsetDelta = try VarintCoding.readVarint(bytes, &index, end: recordEnd)
            let key = try readNullableBytes(bytes, &index, end: recordEnd, what: "key")
            let value = try readNullableBytes(bytes, &index, end: recordEnd, what: "value")
            let headerCount = try VarintCoding.readVarint(bytes, &index, end: recordEnd)
            guard headerCount >= 0 else { throw .corruptRecords("negative header count \(headerCount)") }
            var headers: [RecordHeader] = []
            if headerCount > 0 {
                // Each header takes at least two bytes.
                headers.reserveCapacity(min(Int(headerCount), (recordEnd - index) / 2))
                for _ in 0..<headerCount {
                    guard let keyBytes = try readNullableBytes(bytes, &index, end: recordEnd, what: "header key") else {
                        throw .corruptRecords("null header key")
                    }
                    let headerValue = try readNullableBytes(bytes, &index, end: recordEnd, what: "header value")
                    headers.append(RecordHeader(key: String(decoding: keyBytes, as: UTF8.self), value: headerValue))
                }
            }
            guard index == recordEnd else {
                throw .corruptRecords("record \(records.count) has \(recordEnd - index) bytes beyond its fields")
            }
            records.append(
                Record(
                    offset: header.baseOffset + Int64(offsetDelta),
                    timestamp: logAppendTime ? header.maxTimestamp : header.baseTimestamp &+ timestampDelta,
                    key: key, value: value, headers: headers))
        }
        guard records.count == expected else {
            throw .corruptRecords("found \(records.count) records, header announces \(expected)")
        }
        return records
    }

    @inline(__always)
    static func readNullableBytes(_ bytes: UnsafeRawBufferPointer, _ index: inout Int, end: Int, what: StaticString)
        throws(RecordBatchError) -> [UInt8]?
    {
        let length = try VarintCoding.readVarint(bytes, &index, end: end)
        if length == -1 { return nil }
        guard length >= 0, Int(length) <= end - index else {
            throw .corruptRecords("\(what) length \(length) does not fit in the record")
        }
        let start = index
        index += Int(length)
        return Array(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
    }
}

/// Pointer-level record framing checks shared by the decoder and the produce validator.
enum RecordFraming {
    /// length(1) + attributes(1) + timestampDelta(1) + offsetDelta(1) + keyLength(1) + valueLength(1) + headerCount(1).
    static let minimumRecordSize = 7

    /// Reads a record's length varint at `index` and returns where the record ends.
    @inline(__always)
    static func recordBounds(_ bytes: UnsafeRawBufferPointer, _ index: inout Int, end: Int, number: Int)
        throws(RecordBatchError) -> Int
    {
        let length = try VarintCoding.readVarint(bytes, &index, end: end)
        guard length >= Int32(minimumRecordSize - 1), Int(length) <= end - index else {
            throw .corruptRecords("record \(number) claims \(length) bytes, \(end - index) left in the batch")
        }
        return index + Int(length)
    }

    /// Skips a nullable byte field (key, value, header value); returns false if it was null.
    @inline(__always)
    static func skipNullableBytes(_ bytes: UnsafeRawBufferPointer, _ index: inout Int, end: Int, what: StaticString)
        throws(RecordBatchError) -> Bool
    {
        let length = try VarintCoding.readVarint(bytes, &index, end: end)
        if length == -1 { return false }
        guard length >= 0, Int(length) <= end - index else {
            throw .corruptRecords("\(what) length \(length) does not fit in the record")
        }
        index += Int(length)
        return true
    }

    /// Walks the records in `bytes[start..<end]` checking every field boundary, without allocating.
    ///
    /// Checks: each record's fields end exactly at its length, the last record ends exactly at
    /// `end`, there are exactly `expectedCount` records, offset deltas are 0, 1, 2... (as every
    /// producer writes them), header keys are not null, and with `requireKeys` every key is present.
    ///
    /// With `gapsUpTo` (batches a broker stored, which compaction may have thinned) offset deltas
    /// need only increase strictly and stay within `0...gapsUpTo` (the batch's lastOffsetDelta).
    ///
    /// With `timestamps`, every record's timestamp (`base` + its timestampDelta) other than -1
    /// (no timestamp) must lie in `accepted` (Kafka's message.timestamp.before/after.max.ms).
    static func walk(
        _ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int, expectedCount: Int32, requireKeys: Bool,
        gapsUpTo maxOffsetDelta: Int32? = nil,
        timestamps: (base: Int64, accepted: ClosedRange<Int64>)? = nil
    ) throws(RecordBatchError) {
        var index = start
        var count: Int32 = 0
        var previousDelta: Int32 = -1
        while index < end {
            guard count < expectedCount else {
                throw .corruptRecords("more than the \(expectedCount) records the header announces")
            }
            let recordEnd = try recordBounds(bytes, &index, end: end, number: Int(count))
            index += 1  // attributes, unused
            let timestampDelta = try VarintCoding.readVarlong(bytes, &index, end: recordEnd)
            let offsetDelta = try VarintCoding.readVarint(bytes, &index, end: recordEnd)
            if let timestamps {
                let timestamp = timestamps.base &+ timestampDelta
                guard timestamp == -1 || timestamps.accepted.contains(timestamp) else {
                    throw .timestampOutOfRange(
                        timestamp: timestamp, offsetDelta: offsetDelta, accepted: timestamps.accepted)
                }
            }
            if let maxOffsetDelta {
                guard offsetDelta > previousDelta, offsetDelta <= maxOffsetDelta else {
                    throw .corruptRecords(
                        "record \(count) has offset delta \(offsetDelta) (previous \(previousDelta), lastOffsetDelta \(maxOffsetDelta))"
                    )
                }
                previousDelta = offsetDelta
            } else {
                guard offsetDelta == count else {
                    throw .corruptRecords("record \(count) has offset delta \(offsetDelta)")
                }
            }
            let hasKey = try skipNullableBytes(bytes, &index, end: recordEnd, what: "key")
            if requireKeys && !hasKey { throw .missingKey(offsetDelta: offsetDelta) }
            _ = try skipNullableBytes(bytes, &index, end: recordEnd, what: "value")
            let headerCount = try VarintCoding.readVarint(bytes, &index, end: recordEnd)
            guard headerCount >= 0 else { throw .corruptRecords("negative header count \(headerCount)") }
            // Bounded by the record's bytes: every header consumes at least two of them.
            for _ in 0..<headerCount {
                guard try skipNullableBytes(bytes, &index, end: recordEnd, what: "header key") else {
                    throw .corruptRecords("null header key in record \(count)")
                }
                _ = try skipNullableBytes(bytes, &index, end: recordEnd, what: "header value")
            }
            guard index == recordEnd else {
                throw .corruptRecords("record \(count) has \(recordEnd - index) bytes beyond its fields")
            }
            count += 1
        }
        guard count == expectedCount else {
            throw .corruptRecords("found \(count) records, header announces \(expectedCount)")
        }
    }
}
