import KafkaProtocol
/// The record formats of MirrorMaker 2's internal topics, byte for byte (connect/mirror-client
/// `OffsetSync`, `Checkpoint`, `Heartbeat`, written with Kafka's `Schema`/`Struct` types):
/// INT16/INT32/INT64 big-endian; STRING = INT16 length (>= 0, at most 32767) + UTF-8 bytes, never null.
///
/// | Record | Key | Value |
/// |---|---|---|
/// | OffsetSync | topic STRING, partition INT32 | upstreamOffset INT64, offset INT64 (no version) |
/// | Checkpoint | group STRING, topic STRING, partition INT32 | version INT16 (0), upstreamOffset INT64, offset INT64, metadata STRING |
/// | Heartbeat | sourceClusterAlias STRING, targetClusterAlias STRING | version INT16 (0), timestamp INT64 |
///
/// Decoding follows Java's `Schema.read`: bytes after the known fields are ignored (a later
/// version may append fields), a missing field or a negative or overlong string length is an error.
public enum MirrorFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated(field: String)
    case negativeStringLength(field: String, Int16)
    /// Kafka's STRING holds at most 32767 bytes of UTF-8.
    case stringTooLong(field: String, bytes: Int)
    case unsupportedVersion(Int16)

    public var description: String {
        switch self {
        case let .truncated(field): "record ends before its \(field) field"
        case let .negativeStringLength(field, length): "\(field) has negative length \(length)"
        case let .stringTooLong(field, bytes):
            "\(field) is \(bytes) bytes of UTF-8, more than a Kafka STRING holds (32767)"
        case let .unsupportedVersion(version): "unsupported record version \(version) (only 0 is known)"
        }
    }
}

/// A source record at `upstreamOffset` was written at `downstreamOffset` in the target.
/// Key: the *source* topic and partition.
public struct OffsetSync: Sendable, Equatable {
    public var topic: String
    public var partition: PartitionIndex
    public var upstreamOffset: Offset
    public var downstreamOffset: Offset

    public init(topic: String, partition: PartitionIndex, upstreamOffset: Offset, downstreamOffset: Offset) {
        self.topic = topic
        self.partition = partition
        self.upstreamOffset = upstreamOffset
        self.downstreamOffset = downstreamOffset
    }

    public func key() throws(MirrorFormatError) -> [UInt8] {
        var writer = StructWriter()
        try writer.string(topic, field: "topic")
        writer.int32(partition)
        return writer.bytes
    }

    public func value() -> [UInt8] {
        var writer = StructWriter()
        writer.int64(upstreamOffset)
        writer.int64(downstreamOffset)
        return writer.bytes
    }

    public init(key: [UInt8], value: [UInt8]) throws(MirrorFormatError) {
        var k = StructReader(key)
        topic = try k.string("topic")
        partition = try k.int32("partition")
        var v = StructReader(value)
        upstreamOffset = try v.int64("upstreamOffset")
        downstreamOffset = try v.int64("offset")
    }
}

/// A consumer group's committed source offset and its translation at the target.
/// `topic` is the topic's name **at the target** (the remote topic).
public struct Checkpoint: Sendable, Equatable {
    public static let version: Int16 = 0

    public var group: String
    public var topic: String
    public var partition: PartitionIndex
    public var upstreamOffset: Offset
    public var downstreamOffset: Offset
    public var metadata: String

    public init(
        group: String, topic: String, partition: PartitionIndex, upstreamOffset: Offset, downstreamOffset: Offset,
        metadata: String
    ) {
        self.group = group
        self.topic = topic
        self.partition = partition
        self.upstreamOffset = upstreamOffset
        self.downstreamOffset = downstreamOffset
        self.metadata = metadata
    }

    public func key() throws(MirrorFormatError) -> [UInt8] {
        var writer = StructWriter()
        try writer.string(group, field: "group")
        try writer.string(topic, field: "topic")
        writer.int32(partition)
        return writer.bytes
    }

    public func value() throws(MirrorFormatError) -> [UInt8] {
        var writer = StructWriter()
        writer.int16(Self.version)
        writer.int64(upstreamOffset)
        writer.int64(downstreamOffset)
        try writer.string(metadata, field: "metadata")
        return writer.bytes
    }

    public init(key: [UInt8], value: [UInt8]) throws(MirrorFormatError) {
        var k = StructReader(key)
        group = try k.string("group")
        topic = try k.string("topic")
        partition = try k.int32("partition")
        var v = StructReader(value)
        let version = try v.int16("version")
        guard version >= 0 else { throw .unsupportedVersion(version) }
        upstreamOffset = try v.int64("upstreamOffset")
        downstreamOffset = try v.int64("offset")
        metadata = try v.string("metadata")
    }
}

/// Emitted periodically into the target's `heartbeats` topic; mirrored onwards (as
/// `<source>.heartbeats`) it shows which clusters reach which.
public struct Heartbeat: Sendable, Equatable {
    public static let version: Int16 = 0

    public var sourceClusterAlias: String
    public var targetClusterAlias: String
    /// Milliseconds since the epoch, when it was emitted.
    public var timestamp: Int64

    public init(sourceClusterAlias: String, targetClusterAlias: String, timestamp: Int64) {
        self.sourceClusterAlias = sourceClusterAlias
        self.targetClusterAlias = targetClusterAlias
        self.timestamp = timestamp
    }

    public func key() throws(MirrorFormatError) -> [UInt8] {
        var writer = StructWriter()
        try writer.string(sourceClusterAlias, field: "sourceClusterAlias")
        try writer.string(targetClusterAlias, field: "targetClusterAlias")
        return writer.bytes
    }

    public func value() -> [UInt8] {
        var writer = StructWriter()
        writer.int16(Self.version)
        writer.int64(timestamp)
        return writer.bytes
    }

    public init(key: [UInt8], value: [UInt8]) throws(MirrorFormatError) {
        var k = StructReader(key)
        sourceClusterAlias = try k.string("sourceClusterAlias")
        targetClusterAlias = try k.string("targetClusterAlias")
        var v = StructReader(value)
        let version = try v.int16("version")
        guard version >= 0 else { throw .unsupportedVersion(version) }
        timestamp = try v.int64("timestamp")
    }
}

/// Names of MirrorMaker 2's internal topics (DefaultReplicationPolicy, separator ".").
public enum MirrorTopics {
    /// `mm2-offset-syncs.<targetAlias>.internal`, in the **source** cluster by default
    /// (MM2's `offset-syncs.topic.location = source`).
    public static func offsetSyncs(targetAlias: String) -> String { "mm2-offset-syncs.\(targetAlias).internal" }
    /// `<sourceAlias>.checkpoints.internal`, in the **target** cluster.
    public static func checkpoints(sourceAlias: String) -> String { "\(sourceAlias).checkpoints.internal" }
    /// `heartbeats`, in the **target** cluster.
    public static let heartbeats = ReplicationPolicy.heartbeatsTopic
}

// MARK: - Kafka Struct encoding

struct StructWriter {
    var bytes: [UInt8] = []

    mutating func int16(_ value: Int16) { append(value) }
    mutating func int32(_ value: Int32) { append(value) }
    mutating func int64(_ value: Int64) { append(value) }

    mutating func string(_ value: String, field: String) throws(MirrorFormatError) {
        let utf8 = Array(value.utf8)
        guard utf8.count <= Int(Int16.max) else { throw .stringTooLong(field: field, bytes: utf8.count) }
        int16(Int16(utf8.count))
        bytes += utf8
    }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes += $0 }
    }
}

struct StructReader {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func int16(_ field: String) throws(MirrorFormatError) -> Int16 { try read(field) }
    mutating func int32(_ field: String) throws(MirrorFormatError) -> Int32 { try read(field) }
    mutating func int64(_ field: String) throws(MirrorFormatError) -> Int64 { try read(field) }

    mutating func string(_ field: String) throws(MirrorFormatError) -> String {
        let length = try int16(field)
        guard length >= 0 else { throw .negativeStringLength(field: field, length) }
        guard bytes.count - index >= Int(length) else { throw .truncated(field: field) }
        defer { index += Int(length) }
        return String(decoding: bytes[index..<(index + Int(length))], as: UTF8.self)
    }

    private mutating func read<T: FixedWidthInteger>(_ field: String) throws(MirrorFormatError) -> T {
        let size = MemoryLayout<T>.size
        guard bytes.count - index >= size else { throw .truncated(field: field) }
        var value: T = 0
        for byte in bytes[index..<(index + size)] { value = value << 8 | T(truncatingIfNeeded: byte) }
        index += size
        return value
    }
}
