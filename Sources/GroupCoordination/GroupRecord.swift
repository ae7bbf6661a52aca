import KafkaProtocol
import NIOCore

/// One durable fact about consumer groups. The broker stores each record as a key/value record in
/// an internal compacted topic: the latest value per key wins, and a nil value (a tombstone)
/// deletes the key.
///
/// Binary layout (big-endian; STRING is an unsigned-varint length + 1 followed by UTF-8 bytes,
/// NULLABLE_STRING uses length 0 for null, BYTES like STRING, ARRAY an unsigned-varint count + 1):
///
///     key, offset commit:   INT16 keyType = 1, STRING groupId, STRING topic, INT32 partition
///     key, group metadata:  INT16 keyType = 2, STRING groupId
///
///     value, offset commit (version 0, or 1 when the commit has its own expiry time):
///         INT16 version = 0, INT64 offset, INT32 leaderEpoch (-1 = none), STRING metadata,
///         INT64 commitTimestampMs
///         version 1 appends: INT64 expireTimestampMs (OffsetCommit v2-v4 retention_time_ms)
///     value, group metadata (version 0):
///         INT16 version = 0, NULLABLE_STRING protocolType, INT32 generationId,
///         NULLABLE_STRING protocolName, NULLABLE_STRING leaderId, INT64 stateTimestampMs,
///         ARRAY members: STRING memberId, NULLABLE_STRING groupInstanceId, STRING clientId,
///                        STRING clientHost, INT32 rebalanceTimeoutMs, INT32 sessionTimeoutMs,
///                        BYTES subscription, BYTES assignment
///     value, tombstone: absent (nil)
///
/// A reader rejects key types and value versions it does not know rather than guessing.
public enum GroupRecord: Sendable, Equatable {
    case group(GroupMetadataRecord)
    case offset(OffsetCommitRecord)
    case groupTombstone(groupId: String)
    case offsetTombstone(groupId: String, topic: String, partition: Int32)

    /// The compaction key: records with equal keys replace each other.
    public var key: GroupRecordKey {
        switch self {
        case .group(let record): return .group(record.groupId)
        case .offset(let record):
            return .offset(groupId: record.groupId, topic: record.topic, partition: record.partition)
        case .groupTombstone(let groupId): return .group(groupId)
        case .offsetTombstone(let groupId, let topic, let partition):
            return .offset(groupId: groupId, topic: topic, partition: partition)
        }
    }
}

/// The compaction key of a `GroupRecord`.
public enum GroupRecordKey: Hashable, Sendable {
    case offset(groupId: String, topic: String, partition: Int32)
    case group(String)

    static let offsetKeyType: Int16 = 1
    static let groupKeyType: Int16 = 2

    public var groupId: String {
        switch self {
        case .offset(let groupId, _, _): return groupId
        case .group(let groupId): return groupId
        }
    }
}

/// A group's membership after a completed rebalance (or an empty group's generation).
public struct GroupMetadataRecord: Sendable, Equatable {
    public var groupId: String
    /// Nil for a group only used to store offsets ("simple" consumers).
    public var protocolType: String?
    public var generationId: Int32
    /// The selected protocol (assignor); nil when the group has no members.
    public var protocolName: String?
    public var leaderId: String?
    public var stateTimestampMs: Int64
    public var members: [Member]

    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var rebalanceTimeoutMs: Int32
        public var sessionTimeoutMs: Int32
        /// The member's metadata for the selected protocol.
        public var subscription: [UInt8]
        /// The assignment the leader chose for this member (opaque to the coordinator).
        public var assignment: [UInt8]

        public init(
            memberId: String, groupInstanceId: String?, clientId: String, clientHost: String,
            rebalanceTimeoutMs: Int32, sessionTimeoutMs: Int32, subscription: [UInt8], assignment: [UInt8]
        ) {
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
            self.clientId = clientId
            self.clientHost = clientHost
            self.rebalanceTimeoutMs = rebalanceTimeoutMs
            self.sessionTimeoutMs = sessionTimeoutMs
            self.subscription = subscription
            self.assignment = assignment
        }
    }

    public init(
        groupId: String, protocolType: String?, generationId: Int32, protocolName: String?, leaderId: String?,
        stateTimestampMs: Int64, members: [Member]
    ) {
        self.groupId = groupId
        self.protocolType = protocolType
        self.generationId = generationId
        self.protocolName = protocolName
        self.leaderId = leaderId
        self.stateTimestampMs = stateTimestampMs
        self.members = members
    }
}

/// One committed offset.
public struct OffsetCommitRecord: Sendable, Equatable {
    public var groupId: String
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// -1 when the client did not send one (OffsetCommit before v6).
    public var leaderEpoch: Int32
    public var metadata: String
    public var commitTimestampMs: Int64
    /// When the offset expires regardless of the group's state (commit time + the request's
    /// retention_time_ms, OffsetCommit v2-v4); nil: the broker's `offsets.retention` applies.
    public var expireTimestampMs: Int64?

    public init(
        groupId: String, topic: String, partition: Int32, offset: Int64, leaderEpoch: Int32, metadata: String,
        commitTimestampMs: Int64, expireTimestampMs: Int64? = nil
    ) {
        self.groupId = groupId
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
        self.commitTimestampMs = commitTimestampMs
        self.expireTimestampMs = expireTimestampMs
    }

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }

    /// The offset as the coordinator keeps it (leader epoch -1 becomes nil, and back on fetch).
    public var retained: RetainedOffset {
        RetainedOffset(
            CommittedOffset(offset: offset, leaderEpoch: leaderEpoch == -1 ? nil : leaderEpoch, metadata: metadata),
            commitTimestampMs: commitTimestampMs, expireTimestampMs: expireTimestampMs)
    }
}

/// Why a stored group record could not be decoded.
public enum GroupRecordDecodingError: Error, Equatable {
    case unknownKeyType(Int16)
    case unknownValueVersion(Int16)
    case trailingBytes(what: String)
    case malformed(String)
}

// MARK: - Encoding

extension GroupRecord {
    /// The record key bytes (see the layout on `GroupRecord`).
    public func encodedKey() -> [UInt8] {
        var buffer = ByteBuffer()
        switch key {
        case .offset(let groupId, let topic, let partition):
            buffer.writeKafkaInt16(GroupRecordKey.offsetKeyType)
            buffer.writeRecordString(groupId)
            buffer.writeRecordString(topic)
            buffer.writeKafkaInt32(partition)
        case .group(let groupId):
            buffer.writeKafkaInt16(GroupRecordKey.groupKeyType)
            buffer.writeRecordString(groupId)
        }
        return Array(buffer.readableBytesView)
    }

    /// The record value bytes, or nil for a tombstone.
    public func encodedValue() -> [UInt8]? {
        var buffer = ByteBuffer()
        switch self {
        case .groupTombstone, .offsetTombstone:
            return nil
        case .offset(let record):
            buffer.writeKafkaInt16(record.expireTimestampMs == nil ? 0 : 1)
            buffer.writeKafkaInt64(record.offset)
            buffer.writeKafkaInt32(record.leaderEpoch)
            buffer.writeRecordString(record.metadata)
            buffer.writeKafkaInt64(record.commitTimestampMs)
            if let expireTimestampMs = record.expireTimestampMs { buffer.writeKafkaInt64(expireTimestampMs) }
        case .group(let record):
            buffer.writeKafkaInt16(0)
            buffer.writeRecordNullableString(record.protocolType)
            buffer.writeKafkaInt32(record.generationId)
            buffer.writeRecordNullableString(record.protocolName)
            buffer.writeRecordNullableString(record.leaderId)
            buffer.writeKafkaInt64(record.stateTimestampMs)
            buffer.writeUnsignedVarint32(UInt32(record.members.count + 1))
            for member in record.members {
                buffer.writeRecordString(member.memberId)
                buffer.writeRecordNullableString(member.groupInstanceId)
                buffer.writeRecordString(member.clientId)
                buffer.writeRecordString(member.clientHost)
                buffer.writeKafkaInt32(member.rebalanceTimeoutMs)
                buffer.writeKafkaInt32(member.sessionTimeoutMs)
                buffer.writeRecordBytes(member.subscription)
                buffer.writeRecordBytes(member.assignment)
            }
        }
        return Array(buffer.readableBytesView)
    }

    /// Decodes a stored record; a nil value is a tombstone for the key.
    public init(key keyBytes: [UInt8], value valueBytes: [UInt8]?) throws {
        var keyBuffer = ByteBuffer(bytes: keyBytes)
        let keyType = try keyBuffer.readKafkaInt16(what: "GroupRecord key type")
        let key: GroupRecordKey
        switch keyType {
        case GroupRecordKey.offsetKeyType:
            key = .offset(
                groupId: try keyBuffer.readKafkaString(compact: true, what: "GroupRecord key groupId"),
                topic: try keyBuffer.readKafkaString(compact: true, what: "GroupRecord key topic"),
                partition: try keyBuffer.readKafkaInt32(what: "GroupRecord key partition"))
        case GroupRecordKey.groupKeyType:
            key = .group(try keyBuffer.readKafkaString(compact: true, what: "GroupRecord key groupId"))
        default:
            throw GroupRecordDecodingError.unknownKeyType(keyType)
        }
        guard keyBuffer.readableBytes == 0 else { throw GroupRecordDecodingError.trailingBytes(what: "key") }

        guard let valueBytes else {
            switch key {
            case .offset(let groupId, let topic, let partition):
                self = .offsetTombstone(groupId: groupId, topic: topic, partition: partition)
            case .group(let groupId):
                self = .groupTombstone(groupId: groupId)
            }
            return
        }
        var value = ByteBuffer(bytes: valueBytes)
        let version = try value.readKafkaInt16(what: "GroupRecord value version")
        switch key {
        case .offset(let groupId, let topic, let partition):
            guard version == 0 || version == 1 else { throw GroupRecordDecodingError.unknownValueVersion(version) }
            var record = OffsetCommitRecord(
                groupId: groupId, topic: topic, partition: partition,
                offset: try value.readKafkaInt64(what: "OffsetCommitRecord.offset"),
                leaderEpoch: try value.readKafkaInt32(what: "OffsetCommitRecord.leaderEpoch"),
                metadata: try value.readKafkaString(compact: true, what: "OffsetCommitRecord.metadata"),
                commitTimestampMs: try value.readKafkaInt64(what: "OffsetCommitRecord.commitTimestampMs"))
            if version == 1 {
                record.expireTimestampMs = try value.readKafkaInt64(what: "OffsetCommitRecord.expireTimestampMs")
            }
            self = .offset(record)
        case .group(let groupId):
            guard version == 0 else { throw GroupRecordDecodingError.unknownValueVersion(version) }
            let protocolType = try value.readKafkaNullableString(
                compact: true, what: "GroupMetadataRecord.protocolType")
            let generationId = try value.readKafkaInt32(what: "GroupMetadataRecord.generationId")
            let protocolName = try value.readKafkaNullableString(
                compact: true, what: "GroupMetadataRecord.protocolName")
            let leaderId = try value.readKafkaNullableString(compact: true, what: "GroupMetadataRecord.leaderId")
            let stateTimestampMs = try value.readKafkaInt64(what: "GroupMetadataRecord.stateTimestampMs")
            let members = try value.readKafkaArray(compact: true, what: "GroupMetadataRecord.members") { buffer in
                GroupMetadataRecord.Member(
                    memberId: try buffer.readKafkaString(compact: true, what: "Member.memberId"),
                    groupInstanceId: try buffer.readKafkaNullableString(compact: true, what: "Member.groupInstanceId"),
                    clientId: try buffer.readKafkaString(compact: true, what: "Member.clientId"),
                    clientHost: try buffer.readKafkaString(compact: true, what: "Member.clientHost"),
                    rebalanceTimeoutMs: try buffer.readKafkaInt32(what: "Member.rebalanceTimeoutMs"),
                    sessionTimeoutMs: try buffer.readKafkaInt32(what: "Member.sessionTimeoutMs"),
                    subscription: try buffer.readKafkaBytes(compact: true, what: "Member.subscription"),
                    assignment: try buffer.readKafkaBytes(compact: true, what: "Member.assignment"))
            }
            self = .group(
                GroupMetadataRecord(
                    groupId: groupId, protocolType: protocolType, generationId: generationId,
                    protocolName: protocolName,
                    leaderId: leaderId, stateTimestampMs: stateTimestampMs, members: members))
        }
        guard value.readableBytes == 0 else { throw GroupRecordDecodingError.trailingBytes(what: "value") }
    }
}

extension ByteBuffer {
    /// Compact string: unsigned varint (length + 1), then UTF-8 bytes.
    fileprivate mutating func writeRecordString(_ value: String) {
        writeUnsignedVarint32(UInt32(value.utf8.count + 1))
        writeString(value)
    }

    /// Compact nullable string: 0 for null, else as `writeRecordString`.
    fileprivate mutating func writeRecordNullableString(_ value: String?) {
        guard let value else {
            writeUnsignedVarint32(0)
            return
        }
        writeRecordString(value)
    }

    /// Compact bytes: unsigned varint (length + 1), then the bytes.
    fileprivate mutating func writeRecordBytes(_ value: [UInt8]) {
        writeUnsignedVarint32(UInt32(value.count + 1))
        writeBytes(value)
    }
}
