import KafkaProtocol

/// Which offset ListOffsets should return.
public enum OffsetSpec: Hashable, Sendable {
    /// The log start offset.
    case earliest
    /// The log end offset (the high watermark for READ_UNCOMMITTED).
    case latest
    /// The first offset whose timestamp is at or after this time (ms since the epoch).
    case timestamp(Int64)

    var wireTimestamp: Int64 {
        switch self {
        case .earliest: -2
        case .latest: -1
        case let .timestamp(ms): ms
        }
    }
}

public enum IsolationLevel: Int8, Sendable {
    case readUncommitted = 0
    case readCommitted = 1
}

/// One partition's answer to ListOffsets.
public struct ListedOffset: Hashable, Sendable {
    /// -1 when no offset matches (a timestamp after the last record).
    public var offset: Offset
    /// The matching record's timestamp (-1 for earliest/latest).
    public var timestamp: Int64
    public var leaderEpoch: LeaderEpoch?
}

extension KafkaCluster {
    /// ListOffsets for `partitions`, each sent to its partition's leader (one request per
    /// leader, leaders asked concurrently). Partitions whose leader moved or is unknown are
    /// retried after a metadata refresh; a partition that still fails is reported in the result.
    public func listOffsets(
        _ partitions: Set<TopicPartition>, spec: OffsetSpec = .latest,
        isolation: IsolationLevel = .readUncommitted
    ) async throws -> [TopicPartition: Result<ListedOffset, KafkaClientError>] {
        var results: [TopicPartition: Result<ListedOffset, KafkaClientError>] = [:]
        var remaining = partitions
        var attempt = 1
        while !remaining.isEmpty {
            let metadata = try await withRetries("Metadata") {
                try await self.metadata(listing: remaining)
            }
            var byLeader: [Int32: [TopicPartition]] = [:]
            var retry: [TopicPartition: KafkaClientError] = [:]
            for tp in remaining {
                guard let topic = metadata.topics[tp.topic] else {
                    retry[tp] = .unknownTopicOrPartition("Metadata for \(tp)")
                    continue
                }
                if topic.error.isError {
                    let error = KafkaClientError.broker(
                        topic.error, message: nil, context: "Metadata for topic '\(tp.topic)'")
                    if topic.error.isRetriable { retry[tp] = error } else { results[tp] = .failure(error) }
                    continue
                }
                guard let partition = metadata.partition(tp) else {
                    results[tp] = .failure(Self.notListed(tp, in: topic))
                    continue
                }
                guard let leader = partition.leader else {
                    retry[tp] = .broker(.leaderNotAvailable, message: nil, context: "Metadata for \(tp)")
                    continue
                }
                byLeader[leader, default: []].append(tp)
            }
            let answers = await withTaskGroup(of: [TopicPartition: Result<ListedOffset, KafkaClientError>].self) {
                group in
                for (leader, tps) in byLeader {
                    group.addTask { await self.listOffsets(tps, leader: leader, spec: spec, isolation: isolation) }
                }
                var merged: [TopicPartition: Result<ListedOffset, KafkaClientError>] = [:]
                for await answer in group { merged.merge(answer) { $1 } }
                return merged
            }
            for (tp, answer) in answers {
                if case let .failure(error) = answer, error.isRetriable || error.errorCode?.invalidatesLeader == true {
                    retry[tp] = error
                } else {
                    results[tp] = answer
                }
            }
            remaining = Set(retry.keys)
            guard !remaining.isEmpty else { break }
            if attempt >= configuration.retry.maxAttempts {
                for (tp, error) in retry { results[tp] = .failure(error) }
                break
            }
            invalidateMetadata(topics: Set(remaining.map(\.topic)))
            try await sleep(configuration.retry.backoff(afterAttempt: attempt))
            attempt += 1
        }
        return results
    }

    /// One ListOffsets request to one leader. Request-level failures become per-partition failures.
    private func listOffsets(
        _ partitions: [TopicPartition], leader: Int32, spec: OffsetSpec,
        isolation: IsolationLevel
    ) async -> [TopicPartition: Result<ListedOffset, KafkaClientError>] {
        do {
            let connection = try await connection(to: leader)
            // Isolation levels need v2+; v1 always reads uncommitted.
            let version = try connection.version(
                for: .listOffsets, within: isolation == .readCommitted ? 2...Int16.max : nil)
            let topics = Dictionary(grouping: partitions, by: \.topic).sorted { $0.key < $1.key }.map { topic, tps in
                ListOffsetsRequest.ListOffsetsTopic(
                    name: topic,
                    partitions: tps.sorted().map {
                        ListOffsetsRequest.ListOffsetsPartition(
                            partitionIndex: $0.partition, currentLeaderEpoch: -1,
                            timestamp: spec.wireTimestamp)
                    })
            }
            // ReplicaId -1: a consumer, not a follower (a follower would see offsets past the high watermark).
            let request = ListOffsetsRequest(replicaId: -1, isolationLevel: isolation.rawValue, topics: topics)
            let response = try await connection.send(request, version: version)
            var results: [TopicPartition: Result<ListedOffset, KafkaClientError>] = [:]
            for topic in response.topics {
                for partition in topic.partitions {
                    let tp = TopicPartition(topic.name, partition.partitionIndex)
                    let code = partition.errorCode
                    if code.isError {
                        results[tp] = .failure(
                            .broker(code, message: nil, context: "ListOffsets for \(tp) on broker \(leader)"))
                    } else {
                        results[tp] = .success(
                            ListedOffset(
                                offset: partition.offset, timestamp: partition.timestamp,
                                leaderEpoch: version >= 4 && partition.leaderEpoch >= 0 ? partition.leaderEpoch : nil))
                    }
                }
            }
            for tp in partitions where results[tp] == nil {
                results[tp] = .failure(
                    .protocolViolation(connection.address, "ListOffsets response has no entry for \(tp)"))
            }
            return results
        } catch {
            let failure =
                error as? KafkaClientError
                ?? .protocolViolation(BrokerAddress(host: "broker \(leader)", port: 0), "\(error)")
            return Dictionary(uniqueKeysWithValues: partitions.map { ($0, .failure(failure)) })
        }
    }
}
