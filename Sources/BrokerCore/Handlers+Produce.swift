import KafkaProtocol
import KafkaRecords
import LogStorage
import NIOCore

extension Broker {
    func produce(_ request: ProduceRequest, version: Int16, connection: ConnectionContext = ConnectionContext(id: 0, remoteAddress: "")) -> ProduceResponse {
        let writable = topicPermission(.write, connection, api: "Produce")
        var responses: [ProduceResponse.TopicProduceResponse] = []
        responses.reserveCapacity(request.topicData.count)
        for topicData in request.topicData {
            var partitionResponses: [ProduceResponse.PartitionProduceResponse] = []
            partitionResponses.reserveCapacity(topicData.partitionData.count)
            for partitionData in topicData.partitionData {
                if !writable(topicData.name) {
                    partitionResponses.append(.init(index: partitionData.index, errorCode: ErrorCode.topicAuthorizationFailed.rawValue,
                                                    baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1,
                                                    errorMessage: "not authorized to write to \(topicData.name)"))
                    continue
                }
                partitionResponses.append(
                    producePartition(request: request, version: version, topicName: topicData.name, partitionData: partitionData,
                                     mayCreate: { self.mayCreate(topicData.name, connection, api: "Produce") }))
            }
            responses.append(.init(name: topicData.name, partitionResponses: partitionResponses))
        }
        return ProduceResponse(responses: responses, throttleTimeMs: 0)
    }

    private func producePartition(request: ProduceRequest, version: Int16, topicName: String,
                                  partitionData: ProduceRequest.PartitionProduceData,
                                  mayCreate: () -> Bool = { true }) -> ProduceResponse.PartitionProduceResponse {
        let index = partitionData.index
        func failure(_ code: ErrorCode, _ message: String) -> ProduceResponse.PartitionProduceResponse {
            logger.debug("produce refused", metadata: ["partition": "\(topicName)-\(index)", "error": "\(code)", "reason": "\(message)"])
            // INVALID_RECORD exists from Produce v8 (KIP-467); older clients get CORRUPT_MESSAGE.
            let code = code == .invalidRecord && version < 8 ? .corruptMessage : code
            return .init(index: index, errorCode: code.rawValue, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, errorMessage: message)
        }
        guard version >= 3 else {
            return failure(.unsupportedVersion, "produce v\(version) uses the legacy message format; use v3 or later")
        }
        guard request.acks == 0 || request.acks == 1 || request.acks == -1 else {
            return failure(.invalidRequiredAcks, "acks must be 0, 1 or -1 (all), got \(request.acks)")
        }
        if request.transactionalId != nil {
            return failure(.invalidRequest, "transactional produce is not supported by this broker")
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
        let batch: StoredBatch
        do {
            batch = try ProducedRecordsValidator.validate(records, maxBatchBytes: maxBatchBytes, requireKeys: topic.configs.isCompacted)
        } catch {
            logger.warning("invalid batch refused", metadata: ["partition": "\(topicName)-\(index)", "reason": "\(error)"])
            return failure(ErrorCode(rawValue: error.kafkaErrorCode) ?? .corruptMessage, error.description)
        }
        if batch.header.isTransactional {
            return failure(.invalidRequest, "transactional batches are not supported by this broker")
        }
        if request.acks == -1, let minISR = Int(topic.configs.value("min.insync.replicas", broker: config)), minISR > 1 {
            return failure(.notEnoughReplicas, "min.insync.replicas is \(minISR) but this partition has one replica")
        }
        let currentTime = now()
        if let problem = timestampProblem(batch.header, topic: topic, now: currentTime) {
            return failure(.invalidTimestamp, problem)
        }
        switch partition.append(batch, now: currentTime) {
        case let .appended(result):
            return .init(index: index, errorCode: ErrorCode.none.rawValue, baseOffset: result.baseOffset,
                         logAppendTimeMs: -1, logStartOffset: result.logStartOffset)
        case let .duplicate(firstOffset):
            return .init(index: index, errorCode: ErrorCode.none.rawValue, baseOffset: firstOffset,
                         logAppendTimeMs: -1, logStartOffset: partition.log.logStartOffset)
        case let .rejected(code, message):
            if code == .kafkaStorageError {
                logger.error("append failed", metadata: ["partition": "\(topicName)-\(index)", "reason": "\(message)"])
            }
            return failure(code, message)
        }
    }

    /// message.timestamp.before.max.ms / after.max.ms, checked on the batch's first and
    /// largest timestamps (the header carries no minimum).
    private func timestampProblem(_ header: RecordBatchHeader, topic: TopicState, now: Int64) -> String? {
        let before = Int64(topic.configs.value("message.timestamp.before.max.ms", broker: config)) ?? Int64.max
        let after = Int64(topic.configs.value("message.timestamp.after.max.ms", broker: config)) ?? Int64.max
        if before != Int64.max, header.baseTimestamp < now - before {
            return "timestamp \(header.baseTimestamp) is more than \(before) ms before the broker's time \(now)"
        }
        if after != Int64.max, header.maxTimestamp > now + after {
            return "timestamp \(header.maxTimestamp) is more than \(after) ms after the broker's time \(now)"
        }
        return nil
    }
}
