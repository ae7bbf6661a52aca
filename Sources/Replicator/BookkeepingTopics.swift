import KafkaClient
import KafkaProtocol
import KafkaRecords

/// The small one-partition topics a link and a failover keep their own records in (offset syncs,
/// checkpoints, heartbeats, failover records): created when missing, read whole, appended to.
extension KafkaCluster {
    /// Creates the topic with one partition unless it exists.
    public func ensureBookkeepingTopic(_ name: String, partitions: Int32 = 1, configs: [String: String]) async throws {
        let result = try await createTopics([NewTopic(name: name, partitions: partitions, configs: configs)])[name]
        if let result, !result.isSuccess && !result.alreadyExists {
            throw ReplicatorError.target("cannot create \(name): \(result.errorCode) \(result.errorMessage ?? "")")
        }
    }

    /// Every record of partition 0 of `topic` as (key, value), from the log start to the end.
    public func readBookkeepingTopic(_ topic: String) async throws -> [([UInt8]?, [UInt8]?)] {
        let partition = TopicPartition(topic, 0)
        let ends = try await listOffsets([partition], spec: .latest)
        let starts = try await listOffsets([partition], spec: .earliest)
        guard let end = try ends[partition]?.get().offset, var next = try starts[partition]?.get().offset else {
            return []
        }
        var records: [([UInt8]?, [UInt8]?)] = []
        while next < end {
            let fetched = try await fetch(
                [partition: FetchPosition(offset: next, maxBytes: 4 << 20)], options: FetchOptions(maxWaitMs: 100))
            guard let result = fetched[partition], result.errorCode == .none, let after = result.nextOffset else {
                throw ReplicatorError.source(
                    "cannot read \(topic) at offset \(next): \(fetched[partition]?.errorCode.description ?? "no answer")"
                )
            }
            for batch in result.batches where !batch.header.isControl {
                for record in try RecordBatchDecoder.records(in: batch) where record.offset >= next {
                    records.append((record.key, record.value))
                }
            }
            next = after
        }
        return records
    }

    /// Appends key/value records as one batch to partition 0 of `topic` (acks=all). Retriable
    /// refusals are tried again for about 5 s: right after a topic is created, Apache Kafka
    /// answers UNKNOWN_TOPIC_OR_PARTITION until the new partition's leader is known.
    public func writeBookkeeping(_ topic: String, records: [([UInt8], [UInt8])], now: Int64) async throws {
        guard !records.isEmpty else { return }
        var builder = RecordBatchBuilder()
        for (key, value) in records { builder.append(key: key, value: value, timestamp: now) }
        let batch = try builder.build()
        let partition = TopicPartition(topic, 0)
        var backoff: Duration = .milliseconds(100)
        for attempt in 1...bookkeepingWriteAttempts {
            let results = try await produce([partition: batch], acks: -1)
            guard let result = results[partition], !result.isSuccess else { return }
            let retriable = result.clientError.map(\.isRetriable) ?? result.errorCode.isRetriable
            guard retriable, attempt < bookkeepingWriteAttempts else {
                throw ReplicatorError.target(
                    "writing \(records.count) records to \(topic) failed: \(result.errorCode) "
                        + (result.errorMessage ?? result.clientError.map { "\($0)" } ?? ""))
            }
            invalidateMetadata()
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(1))
        }
    }
}

/// Attempts of one bookkeeping write: 0.1 + 0.2 + 0.4 + 0.8 + 1 + 1 + ... ≈ 5 s of retries.
let bookkeepingWriteAttempts = 8
