/// One partition of one topic, by name: the key the broker, the group coordinator, the client and
/// the replicator all use. Printed and ordered as Kafka prints it, "orders-3".
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
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
    public var offset: Int64
    /// The leader epoch of the last consumed record; nil when unknown (-1 on the wire, and always
    /// before OffsetCommit v6 / OffsetFetch v5).
    public var leaderEpoch: Int32?
    /// The consumer's free-form metadata; "" when none (Kafka stores a null as "").
    public var metadata: String

    public init(offset: Int64, leaderEpoch: Int32? = nil, metadata: String = "") {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
    }
}
