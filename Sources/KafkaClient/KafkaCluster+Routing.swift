import KafkaProtocol

extension KafkaCluster {
    /// Runs a per-partition operation against partition leaders: partitions are grouped by
    /// their leader in (cached) metadata, refreshed first for a partition it lacks (see
    /// `metadata(listing:)`), `send` is called once per leader (leaders concurrently), and
    /// partitions whose answer `shouldRetry` are routed again after a refresh of their topics'
    /// metadata and a backoff, up to `configuration.retry.maxAttempts` times. Partitions that
    /// still fail are reported through `failure`, never thrown; only a metadata failure (no
    /// broker reachable) throws.
    func routedToLeaders<T: Sendable>(
        _ partitions: Set<TopicPartition>, operation: String,
        failure: @escaping @Sendable (KafkaClientError) -> T,
        shouldRetry: @escaping @Sendable (T) -> Bool,
        send:
            @escaping @Sendable (_ leader: Int32, _ partitions: [TopicPartition], _ metadata: ClusterMetadata) async ->
            [TopicPartition: T]
    ) async throws -> [TopicPartition: T] {
        var results: [TopicPartition: T] = [:]
        var remaining = partitions
        var attempt = 1
        while !remaining.isEmpty {
            let metadata = try await withRetries("Metadata") {
                try await self.metadata(listing: remaining)
            }
            var byLeader: [Int32: [TopicPartition]] = [:]
            var retry: [TopicPartition: T] = [:]
            for tp in remaining {
                switch Self.leader(of: tp, in: metadata) {
                case let .success(leader): byLeader[leader, default: []].append(tp)
                case let .failure(error):
                    if error.isRetriable || error.errorCode?.invalidatesLeader == true {
                        retry[tp] = failure(error)
                    } else {
                        results[tp] = failure(error)
                    }
                }
            }
            let answers = await withTaskGroup(of: [TopicPartition: T].self) { group in
                for (leader, tps) in byLeader {
                    group.addTask { await send(leader, tps.sorted(), metadata) }
                }
                var merged: [TopicPartition: T] = [:]
                for await answer in group { merged.merge(answer) { $1 } }
                return merged
            }
            for (leader, tps) in byLeader {
                for tp in tps where answers[tp] == nil {
                    results[tp] = failure(
                        .protocolViolation(
                            metadata.brokers[leader]?.address ?? BrokerAddress(host: "broker \(leader)", port: 0),
                            "\(operation) response has no entry for \(tp)"))
                }
            }
            for (tp, answer) in answers {
                if shouldRetry(answer) { retry[tp] = answer } else { results[tp] = answer }
            }
            remaining = Set(retry.keys)
            guard !remaining.isEmpty else { break }
            if attempt >= configuration.retry.maxAttempts {
                results.merge(retry) { $1 }
                break
            }
            logger.debug(
                "retrying partitions",
                metadata: ["operation": "\(operation)", "attempt": "\(attempt)", "partitions": "\(remaining.count)"])
            invalidateMetadata(topics: Set(remaining.map(\.topic)))
            try await sleep(configuration.retry.backoff(afterAttempt: attempt))
            attempt += 1
        }
        return results
    }

    /// The leader of `tp` per `metadata`, or why there is none.
    static func leader(of tp: TopicPartition, in metadata: ClusterMetadata) -> Result<Int32, KafkaClientError> {
        guard let topic = metadata.topics[tp.topic] else {
            return .failure(.broker(.unknownTopicOrPartition, message: nil, context: "Metadata for \(tp)"))
        }
        if topic.error.isError {
            return .failure(.broker(topic.error, message: nil, context: "Metadata for topic '\(tp.topic)'"))
        }
        guard let partition = metadata.partition(tp) else {
            return .failure(notListed(tp, in: topic))
        }
        guard let leader = partition.leader else {
            return .failure(.broker(.leaderNotAvailable, message: nil, context: "Metadata for \(tp)"))
        }
        return .success(leader)
    }

    /// `tp` is not among the partitions that (refreshed) metadata lists for its topic.
    static func notListed(_ tp: TopicPartition, in topic: TopicMetadata) -> KafkaClientError {
        .unknownTopicOrPartition("Metadata for \(tp) (topic '\(tp.topic)' has \(topic.partitions.count) partitions)")
    }
}

extension KafkaClientError {
    /// For results reported per partition: the Kafka code a transport failure stands for.
    var reportedCode: KafkaErrorCode {
        switch self {
        case let .broker(code, _, _): code
        case .requestTimedOut: .requestTimedOut
        case .unknownTopicOrPartition: .unknownTopicOrPartition
        case .malformedResponse: .corruptMessage
        default: .networkException
        }
    }
}
