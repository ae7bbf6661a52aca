import KafkaProtocol
import KafkaRecords
import LogStorage
import NIOCore

extension Broker {
    /// What a transactional client is told (FindCoordinator, Produce).
    static let transactionsUnsupported =
        "transactions are not supported by this broker (Strait); use a producer without transactional.id "
        + "(idempotent producers are supported)"

    /// Produce to topics the authorization step let through (`authorizedProduce`). `mayCreate`
    /// says whether an unknown topic may be auto-created.
    func produce(_ request: ProduceRequest, version: Int16, mayCreate: (String) -> Bool = { _ in true })
        -> ProduceResponse
    {
        var responses: [ProduceResponse.TopicProduceResponse] = []
        responses.reserveCapacity(request.topicData.count)
        for topicData in request.topicData {
            var partitionResponses: [ProduceResponse.PartitionProduceResponse] = []
            partitionResponses.reserveCapacity(topicData.partitionData.count)
            for partitionData in topicData.partitionData {
                partitionResponses.append(
                    producePartition(
                        request: request, version: version, topicName: topicData.name, partitionData: partitionData,
                        mayCreate: { mayCreate(topicData.name) }))
            }
            responses.append(.init(name: topicData.name, partitionResponses: partitionResponses))
        }
        return ProduceResponse(responses: responses, throttleTimeMs: 0)
    }

    private func producePartition(
        request: ProduceRequest, version: Int16, topicName: String,
        partitionData: ProduceRequest.PartitionProduceData,
        mayCreate: () -> Bool = { true }
    ) -> ProduceResponse.PartitionProduceResponse {
        let index = partitionData.index
        func failure(_ code: KafkaErrorCode, _ message: String) -> ProduceResponse.PartitionProduceResponse {
            logger.debug(
                "produce refused",
                metadata: ["partition": "\(topicName)-\(index)", "error": "\(code)", "reason": "\(message)"])
            // INVALID_RECORD exists from Produce v8 (KIP-467); older clients get CORRUPT_MESSAGE.
            let code = code == .invalidRecord && version < 8 ? .corruptMessage : code
            return .init(
                index: index, errorCode: code, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1,
                errorMessage: message)
        }
        guard version >= 3 else {
            return failure(.unsupportedVersion, "produce v\(version) uses the legacy message format; use v3 or later")
        }
        guard request.acks == 0 || request.acks == 1 || request.acks == -1 else {
            return failure(.invalidRequiredAcks, "acks must be 0, 1 or -1 (all), got \(request.acks)")
        }
        if request.transactionalId != nil {
            return failure(.transactionalIdAuthorizationFailed, Self.transactionsUnsupported)
        }
        if InternalTopics.isInternal(topicName) {
            return failure(.invalidTopicException, "\(topicName) is an internal topic; only the broker writes to it")
        }
        let (topic, code) = topicForWrite(topicName, autoCreate: topic(named: topicName) != nil || mayCreate())
        guard let topic else { return failure(code, "unknown topic \(topicName)") }
        guard let partition = self.partition(topicName, index) else {
            return failure(.unknownTopicOrPartition, "topic \(topicName) has no partition \(index)")
        }
        guard let records = partitionData.records else { return failure(.corruptMessage, "records are null") }
        let maxBatchBytes = Int(topic.configs.value("max.message.bytes", broker: config)) ?? config.messageMaxBytes
        let currentTime = now()
        let batch: StoredBatch
        do {
            batch = try ProducedRecordsValidator.validate(
                records, maxBatchBytes: maxBatchBytes, requireKeys: topic.configs.isCompacted,
                acceptedTimestamps: acceptedTimestamps(topic: topic, now: currentTime))
        } catch {
            logger.warning(
                "invalid batch refused", metadata: ["partition": "\(topicName)-\(index)", "reason": "\(error)"])
            return failure(
                error.kafkaErrorCode,
                "\(error.description) (in the append to \(topicName)-\(index))")
        }
        // Kafka's ProduceRequest rule: zstd needs Produce v7+ (clients that old cannot read it back).
        if batch.header.compression == .zstd && version < 7 {
            return failure(
                .unsupportedCompressionType,
                "produce requests with version \(version) may not use zstd compression (v7+)")
        }
        if batch.header.isTransactional {
            return failure(.transactionalIdAuthorizationFailed, Self.transactionsUnsupported)
        }
        if request.acks == -1, let minISR = Int(topic.configs.value("min.insync.replicas", broker: config)), minISR > 1
        {
            return failure(.notEnoughReplicas, "min.insync.replicas is \(minISR) but this partition has one replica")
        }
        switch partition.append(batch, now: currentTime) {
        case let .appended(result):
            return .init(
                index: index, errorCode: .none, baseOffset: result.baseOffset,
                logAppendTimeMs: -1, logStartOffset: result.logStartOffset)
        case let .duplicate(firstOffset):
            return .init(
                index: index, errorCode: .none, baseOffset: firstOffset,
                logAppendTimeMs: -1, logStartOffset: partition.log.logStartOffset)
        case let .rejected(code, message):
            if code == .kafkaStorageError {
                logger.error("append failed", metadata: ["partition": "\(topicName)-\(index)", "reason": "\(message)"])
            }
            return failure(code, message)
        }
    }

    /// The record timestamps a CreateTime topic accepts now: message.timestamp.before.max.ms /
    /// after.max.ms around the broker's clock, checked on every record as Kafka does; nil when
    /// both are unbounded (the default).
    private func acceptedTimestamps(topic: TopicState, now: Int64) -> ClosedRange<Int64>? {
        let before = Int64(topic.configs.value("message.timestamp.before.max.ms", broker: config)) ?? Int64.max
        let after = Int64(topic.configs.value("message.timestamp.after.max.ms", broker: config)) ?? Int64.max
        guard before != Int64.max || after != Int64.max else { return nil }
        let earliest = before >= now ? Int64.min : now - before
        let latest = after > Int64.max - now ? Int64.max : now + after
        return earliest...latest
    }
}
