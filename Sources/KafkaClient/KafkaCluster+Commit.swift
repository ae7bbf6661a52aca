import KafkaProtocol

extension KafkaCluster {
    /// Commits offsets for `group` as a "simple" (standalone) commit: generation -1 and an
    /// empty member id, as admin tools and MirrorMaker 2's checkpoint sync do. Kafka accepts
    /// it only while the group has no active members (else UNKNOWN_MEMBER_ID or
    /// ILLEGAL_GENERATION for every partition).
    ///
    /// Coordinator errors (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, ...) are retried after
    /// looking the coordinator up again; other errors are returned per partition (NONE on
    /// success).
    public func commitOffsets(group groupId: String, offsets: [TopicPartition: CommittedOffset]) async throws
        -> [TopicPartition: KafkaErrorCode]
    {
        guard !offsets.isEmpty else { return [:] }
        return try await withRetries("OffsetCommit \(groupId)") {
            let connection = try await coordinatorConnection(for: groupId)
            let version = try connection.version(for: .offsetCommit)
            let topics = Dictionary(grouping: offsets, by: \.key.topic).sorted { $0.key < $1.key }.map {
                topic, entries in
                OffsetCommitRequest.OffsetCommitRequestTopic(
                    name: topic,
                    partitions: entries.sorted { $0.key.partition < $1.key.partition }.map { tp, commit in
                        OffsetCommitRequest.OffsetCommitRequestPartition(
                            partitionIndex: tp.partition, committedOffset: commit.offset,
                            committedLeaderEpoch: commit.leaderEpoch ?? -1, commitTimestamp: -1,
                            committedMetadata: commit.metadata)
                    })
            }
            // RetentionTimeMs (v2-4) -1: the broker's offsets.retention.minutes.
            let request = OffsetCommitRequest(
                groupId: groupId, generationIdOrMemberEpoch: -1, memberId: "",
                groupInstanceId: nil, retentionTimeMs: -1, topics: topics)
            let response = try await connection.send(request, version: version)
            var results: [TopicPartition: KafkaErrorCode] = [:]
            for topic in response.topics {
                for partition in topic.partitions {
                    results[TopicPartition(topic.name, partition.partitionIndex)] = partition.errorCode
                }
            }
            // The coordinator reports its own problems per partition: retry the whole commit.
            if let code = results.values.first(where: { $0.invalidatesCoordinator || $0 == .coordinatorLoadInProgress })
            {
                if code.invalidatesCoordinator { invalidateCoordinator(for: groupId) }
                throw KafkaClientError.broker(code, message: nil, context: "OffsetCommit for '\(groupId)'")
            }
            for tp in offsets.keys where results[tp] == nil {
                throw KafkaClientError.protocolViolation(
                    connection.address, "OffsetCommit response has no entry for \(tp)")
            }
            return results
        }
    }
}
