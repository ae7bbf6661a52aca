// The vocabulary the broker, the group coordinator, the client, storage and the replicator share.
//
// Offsets, partition indexes, leader epochs and producer ids are typealiases of the wire integers,
// not wrapper structs: they name what a public parameter or field means, while values still flow
// from and into the generated message fields (which are the wire integers) without a conversion
// at every use, and code written against the integers keeps compiling. They give no type safety:
// the compiler does not stop an `Offset` being passed as a timestamp.

/// A record's position in a partition's log (INT64): the first record is 0; -1 is "none" where the
/// protocol says so.
public typealias Offset = Int64

/// A partition's number within its topic (INT32), from 0.
public typealias PartitionIndex = Int32

/// The epoch of a partition's leader (INT32); -1 on the wire for "unknown".
public typealias LeaderEpoch = Int32

/// An idempotent or transactional producer's id (INT64); -1 for none.
public typealias ProducerID = Int64

/// The epoch of a producer id (INT16); -1 for none.
public typealias ProducerEpoch = Int16

/// One partition of one topic, by name: the key the broker, the group coordinator, the client and
/// the replicator all use. Printed and ordered as Kafka prints it, "orders-3".
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: PartitionIndex

    public init(_ topic: String, _ partition: PartitionIndex) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (a: Self, b: Self) -> Bool {
        a.topic != b.topic ? a.topic < b.topic : a.partition < b.partition
    }

    public var description: String { "\(topic)-\(partition)" }
}

/// A consumer group's position in one partition, as OffsetCommit writes it and OffsetFetch reads
/// it: what the group coordinator stores, the client commits and fetches, and the replicator
/// translates into checkpoints.
public struct CommittedOffset: Hashable, Sendable {
    /// The next record the group will read.
    public var offset: Offset
    /// The leader epoch of the last consumed record; nil when unknown (-1 on the wire, and always
    /// before OffsetCommit v6 / OffsetFetch v5).
    public var leaderEpoch: LeaderEpoch?
    /// The consumer's free-form metadata; "" when none (Kafka stores a null as "").
    public var metadata: String

    public init(offset: Offset, leaderEpoch: LeaderEpoch? = nil, metadata: String = "") {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
    }
}
