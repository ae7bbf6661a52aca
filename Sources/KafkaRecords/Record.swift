/// One header of a record. The key is never null on the wire; the value may be.
public struct RecordHeader: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

/// A decoded record with absolute offset and timestamp.
///
/// Wire layout inside a batch (all varints zig-zag):
/// ```
/// length varint | attributes int8 (0) | timestampDelta varlong | offsetDelta varint
/// keyLength varint (-1 = null) | key | valueLength varint (-1 = null) | value
/// headerCount varint | [keyLength varint, key UTF-8, valueLength varint (-1 = null), value]...
/// ```
public struct Record: Sendable, Equatable {
    /// Absolute offset: the batch's baseOffset + offsetDelta.
    public var offset: Int64
    /// Milliseconds since the epoch: baseTimestamp + timestampDelta for CreateTime batches,
    /// the batch's maxTimestamp for LogAppendTime batches.
    public var timestamp: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]

    public init(offset: Int64 = 0, timestamp: Int64, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = []) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }
}
