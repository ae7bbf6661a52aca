import KafkaProtocol
import KafkaRecords
import LogStorage
import NIOCore

extension Broker {
    /// Fetch with long poll: answer at once when MinBytes are available, an error occurred or
    /// MaxWaitMs is 0; otherwise wait for an append to any requested partition or the deadline.
    /// The topics were authorized before (`authorizedFetch`).
    func fetch(_ request: FetchRequest, version: Int16) async -> FetchResponse {
        // Fetch sessions (KIP-227) are declined: SessionId 0 in every response tells clients to
        // send full fetch requests. A client that names a session we never created is told so.
        if version >= 7, request.sessionId != 0 {
            return FetchResponse(throttleTimeMs: 0, errorCode: .fetchSessionIdNotFound, sessionId: 0, responses: [])
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(max(0, Int64(request.maxWaitMs))))
        let watched = request.topics.flatMap { topic in
            topic.partitions.compactMap { partition(topic.topic, $0.partition) }
        }
        while true {
            let wakeup = FetchWakeup()
            for partition in watched { partition.watchers.add(wakeup) }
            let (response, bytes, hadError) = readFetch(request)
            if bytes >= Int(request.minBytes) || hadError || request.maxWaitMs <= 0 || clock.now >= deadline
                || watched.isEmpty
            {
                for partition in watched { partition.watchers.remove(wakeup) }
                return response
            }
            let timeout = Task {
                try? await Task.sleep(until: deadline, clock: clock)
                wakeup.fire()
            }
            await wakeup.wait()
            timeout.cancel()
            for partition in watched { partition.watchers.remove(wakeup) }
        }
    }

    /// One pass over the requested partitions. Returns the response, the record bytes in it,
    /// and whether any partition had an error.
    private func readFetch(_ request: FetchRequest) -> (FetchResponse, Int, Bool) {
        var remaining = request.maxBytes > 0 ? Int(request.maxBytes) : Int(Int32.max)
        var total = 0
        var hadError = false
        var topicResponses: [FetchResponse.FetchableTopicResponse] = []
        topicResponses.reserveCapacity(request.topics.count)
        for fetchTopic in request.topics {
            var partitions: [FetchResponse.PartitionData] = []
            partitions.reserveCapacity(fetchTopic.partitions.count)
            for fetchPartition in fetchTopic.partitions {
                guard let partition = partition(fetchTopic.topic, fetchPartition.partition) else {
                    hadError = true
                    partitions.append(
                        .init(
                            partitionIndex: fetchPartition.partition, errorCode: .unknownTopicOrPartition,
                            highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: nil))
                    continue
                }
                let log = partition.log
                let limit = min(Int(max(0, fetchPartition.partitionMaxBytes)), remaining)
                do {
                    // KIP-74: the first batch of the response is sent even when it exceeds the limits.
                    let result = try log.read(
                        from: fetchPartition.fetchOffset, maxBytes: limit, minOneBatch: total == 0)
                    let size = result.records.readableBytes
                    total += size
                    remaining = max(0, remaining - size)
                    partitions.append(
                        .init(
                            partitionIndex: fetchPartition.partition, errorCode: .none,
                            highWatermark: result.logEndOffset, lastStableOffset: result.logEndOffset,
                            logStartOffset: result.logStartOffset, abortedTransactions: nil,
                            preferredReadReplica: -1, records: result.records))
                } catch {
                    hadError = true
                    let code: KafkaErrorCode
                    switch error {
                    case .offsetOutOfRange: code = .offsetOutOfRange
                    default:
                        code = .kafkaStorageError
                        logger.error(
                            "fetch read failed",
                            metadata: [
                                "partition": "\(fetchTopic.topic)-\(fetchPartition.partition)", "error": "\(error)"
                            ])
                    }
                    partitions.append(
                        .init(
                            partitionIndex: fetchPartition.partition, errorCode: code,
                            highWatermark: log.logEndOffset, lastStableOffset: log.logEndOffset,
                            logStartOffset: log.logStartOffset, abortedTransactions: nil,
                            preferredReadReplica: -1, records: nil))
                }
            }
            topicResponses.append(.init(topic: fetchTopic.topic, partitions: partitions))
        }
        let response = FetchResponse(throttleTimeMs: 0, errorCode: .none, sessionId: 0, responses: topicResponses)
        return (response, total, hadError)
    }

    /// ListOffsets for topics the authorization step let through (`authorizedListOffsets`).
    func listOffsets(_ request: ListOffsetsRequest, version: Int16) -> ListOffsetsResponse {
        let topics = request.topics.map { listTopic in
            ListOffsetsResponse.ListOffsetsTopicResponse(
                name: listTopic.name,
                partitions: listTopic.partitions.map { listOffset(topic: listTopic.name, requested: $0) })
        }
        return ListOffsetsResponse(throttleTimeMs: 0, topics: topics)
    }

    /// Special timestamps: -1 latest, -2 earliest, -3 max timestamp (KIP-734),
    /// -4 earliest local (KIP-405), -5 latest tiered (none here).
    private func listOffset(topic: String, requested: ListOffsetsRequest.ListOffsetsPartition)
        -> ListOffsetsResponse.ListOffsetsPartitionResponse
    {
        func answer(_ offset: Int64, _ timestamp: Int64, _ code: KafkaErrorCode = .none)
            -> ListOffsetsResponse.ListOffsetsPartitionResponse
        {
            .init(
                partitionIndex: requested.partitionIndex, errorCode: code, timestamp: timestamp, offset: offset,
                leaderEpoch: 0)
        }
        guard let partition = partition(topic, requested.partitionIndex) else {
            return answer(-1, -1, .unknownTopicOrPartition)
        }
        let log = partition.log
        switch requested.timestamp {
        case -1: return answer(log.logEndOffset, -1)
        case -2, -4: return answer(log.logStartOffset, -1)
        case -3:
            guard let (timestamp, offset) = log.maxTimestampAndOffset() else { return answer(-1, -1) }
            return answer(offset, timestamp)
        case -5: return answer(-1, -1)
        case let target where target >= 0:
            do {
                guard let batch = try log.firstBatch(withMaxTimestampAtLeast: target) else { return answer(-1, -1) }
                // Refine to the first record at or after the target inside the batch.
                if let records = try? RecordBatchDecoder.records(in: batch),
                    let record = records.first(where: { $0.timestamp >= target && $0.offset >= log.logStartOffset })
                {
                    return answer(record.offset, record.timestamp)
                }
                return answer(max(batch.header.baseOffset, log.logStartOffset), batch.header.maxTimestamp)
            } catch {
                logger.error(
                    "list offsets failed",
                    metadata: ["partition": "\(topic)-\(requested.partitionIndex)", "error": "\(error)"])
                return answer(-1, -1, .kafkaStorageError)
            }
        default:
            return answer(-1, -1, .invalidRequest)
        }
    }
}
