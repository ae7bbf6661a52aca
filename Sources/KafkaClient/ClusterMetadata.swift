import KafkaProtocol

/// A broker as metadata describes it.
public struct BrokerNode: Hashable, Sendable, CustomStringConvertible {
    public var nodeId: Int32
    public var host: String
    public var port: Int32
    public var rack: String?

    public init(nodeId: Int32, host: String, port: Int32, rack: String? = nil) {
        self.nodeId = nodeId
        self.host = host
        self.port = port
        self.rack = rack
    }

    public var address: BrokerAddress { BrokerAddress(host: host, port: Int(port)) }
    public var description: String { "\(nodeId)@\(address)" }
}

public struct PartitionMetadata: Hashable, Sendable {
    public var partition: PartitionIndex
    public var error: KafkaErrorCode
    /// nil when the partition has no leader (-1 on the wire).
    public var leader: Int32?
    /// nil when the broker does not send it (Metadata v0-6) or sends -1.
    public var leaderEpoch: LeaderEpoch?
    public var replicas: [Int32]
    public var isr: [Int32]
    public var offlineReplicas: [Int32]
}

public struct TopicMetadata: Hashable, Sendable {
    public var name: String
    public var error: KafkaErrorCode
    /// nil before Metadata v10 or when the broker sends the zero UUID.
    public var topicId: KafkaUUID?
    public var isInternal: Bool
    /// Sorted by partition index.
    public var partitions: [PartitionMetadata]
}

/// One Metadata response, indexed.
public struct ClusterMetadata: Sendable {
    public var clusterId: String?
    /// nil before Metadata v1 or when there is no controller (-1).
    public var controllerId: Int32?
    public var brokers: [Int32: BrokerNode]
    public var topics: [String: TopicMetadata]

    public init(clusterId: String?, controllerId: Int32?, brokers: [Int32: BrokerNode], topics: [String: TopicMetadata])
    {
        self.clusterId = clusterId
        self.controllerId = controllerId
        self.brokers = brokers
        self.topics = topics
    }

    public init(_ response: MetadataResponse, version: Int16) {
        var brokers: [Int32: BrokerNode] = [:]
        for broker in response.brokers {
            brokers[broker.nodeId] = BrokerNode(
                nodeId: broker.nodeId, host: broker.host, port: broker.port, rack: broker.rack)
        }
        var topics: [String: TopicMetadata] = [:]
        for topic in response.topics {
            guard let name = topic.name else { continue }
            let partitions = topic.partitions.map { partition in
                PartitionMetadata(
                    partition: partition.partitionIndex,
                    error: partition.errorCode,
                    leader: partition.leaderId >= 0 ? partition.leaderId : nil,
                    leaderEpoch: version >= 7 && partition.leaderEpoch >= 0 ? partition.leaderEpoch : nil,
                    replicas: partition.replicaNodes, isr: partition.isrNodes,
                    offlineReplicas: partition.offlineReplicas)
            }.sorted { $0.partition < $1.partition }
            topics[name] = TopicMetadata(
                name: name, error: topic.errorCode,
                topicId: version >= 10 && topic.topicId != KafkaUUID.zero ? topic.topicId : nil,
                isInternal: topic.isInternal, partitions: partitions)
        }
        self.init(
            clusterId: version >= 2 ? response.clusterId : nil,
            controllerId: version >= 1 && response.controllerId >= 0 ? response.controllerId : nil,
            brokers: brokers, topics: topics)
    }

    public func partition(_ tp: TopicPartition) -> PartitionMetadata? {
        topics[tp.topic]?.partitions.first { $0.partition == tp.partition }
    }

    /// The leader of `tp`, when metadata knows both the partition's leader and that broker.
    public func leader(for tp: TopicPartition) -> BrokerNode? {
        partition(tp)?.leader.flatMap { brokers[$0] }
    }
}
