import KafkaProtocol
import KafkaRecords
import LogStorage
import NIOCore

// Mirror topics and the Strait-only StraitMirrorAppend API (key 20000): the broker side of the
// replicator's offset-preserving mode. See docs/broker.md, "Mirror topics".

extension PartitionState {
    struct MirrorAppendOutcome {
        var error: (KafkaErrorCode, String)?
        var appended: Int32 = 0
        var skipped: Int32 = 0
        var startMoved = false
        var logStartOffset: Int64
        var logEndOffset: Int64
    }

    /// Appends source batches at their own offsets, under the append lock (see docs/broker.md for
    /// the rules). Stops at the first failing batch; those before it stay appended. Producer
    /// sequences are neither checked nor recorded: the source's producer ids mean nothing here.
    func mirrorAppend(_ batches: [StoredBatch], sourceLogStartOffset: Int64, verifyExisting: Bool, now: Int64)
        -> MirrorAppendOutcome
    {
        let outcome: MirrorAppendOutcome = log.withAppendLock { writer in
            var outcome = MirrorAppendOutcome(logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset)
            func finish(_ error: (KafkaErrorCode, String)? = nil) -> MirrorAppendOutcome {
                outcome.error = error
                outcome.logStartOffset = log.logStartOffset
                outcome.logEndOffset = log.logEndOffset
                return outcome
            }
            if let fence {
                return finish(
                    (
                        .invalidTopicException,
                        "topic \(topic) is fenced (\(TopicConfigs.fencedKey): \(fence)); mirror appends are refused until the config is deleted"
                    ))
            }
            guard mirrorSource != nil else {
                return finish(
                    (
                        .invalidTopicException,
                        "topic \(topic) is not a mirror topic (it has no \(TopicConfigs.mirrorSourceKey) config, or was promoted)"
                    ))
            }
            do throws(LogError) {
                if sourceLogStartOffset > log.logEndOffset {
                    // The source deleted records before they were mirrored: the mirror restarts
                    // at the source's start (the replicator counts and reports the gap).
                    _ = try writer.advanceLogStart(to: sourceLogStartOffset, now: now)
                    outcome.startMoved = true
                }
                for batch in batches {
                    let header = batch.header
                    let end = log.logEndOffset
                    if header.baseOffset >= end {
                        _ = try writer.appendPreservingOffsets(batch, now: now)
                        outcome.appended += 1
                    } else if header.lastOffset < end {
                        if verifyExisting, let problem = try divergence(of: header) {
                            return finish((.offsetOutOfRange, problem))
                        }
                        outcome.skipped += 1
                    } else {
                        return finish(
                            (
                                .offsetOutOfRange,
                                "batch at offsets \(header.baseOffset)...\(header.lastOffset) straddles the log end offset \(end) of \(topic)-\(index): offsets \(header.baseOffset)...\(end - 1) are already present; the mirror and its source diverge"
                            ))
                    }
                }
            } catch {
                return finish((.kafkaStorageError, "mirror append to \(topic)-\(index) failed: \(error)"))
            }
            return finish()
        }
        if outcome.appended > 0 || outcome.startMoved { watchers.notifyAppend() }
        return outcome
    }

    /// Why the stored batch covering an already-present batch's range differs from it (same base
    /// offset, last offset and CRC expected), or nil when it matches or was deleted by retention.
    private func divergence(of header: RecordBatchHeader) throws(LogError) -> String? {
        let start = log.logStartOffset
        guard header.lastOffset >= start else { return nil }
        let read = try log.read(from: max(header.baseOffset, start), maxBytes: 1, minOneBatch: true)
        let stored = try? RecordBatchHeader(parsing: read.records, at: read.records.readerIndex)
        guard let stored else {
            return
                "batch at offsets \(header.baseOffset)...\(header.lastOffset) of \(topic)-\(index) is below the log end offset but no stored batch covers it; the mirror and its source diverge"
        }
        if stored.baseOffset == header.baseOffset, stored.lastOffset == header.lastOffset, stored.crc == header.crc {
            return nil
        }
        return
            "batch at offsets \(header.baseOffset)...\(header.lastOffset) (crc \(String(header.crc, radix: 16))) of \(topic)-\(index) does not match the stored batch at \(stored.baseOffset)...\(stored.lastOffset) (crc \(String(stored.crc, radix: 16))); the mirror and its source diverge"
    }

    /// Turns mirror mode on (`source` non-nil; only while the log has never held a record) or off
    /// (promotion: producer state starts at the current log end). Returns a refusal reason.
    func setMirrorSource(_ source: String?) -> String? {
        log.withAppendLock { _ in
            if let source {
                if mirrorSource == source { return nil }
                guard log.logEndOffset == 0 else {
                    return
                        "\(TopicConfigs.mirrorSourceKey) can only be set on a topic that has never held records; \(topic)-\(index) has log end offset \(log.logEndOffset) (delete and re-create the topic)"
                }
                mirrorSource = source
                return nil
            }
            if mirrorSource != nil {
                mirrorSource = nil
                producerStateStart = log.logEndOffset
                producers = ProducerStateTable()
            }
            return nil
        }
    }

    var mirrorState: (source: String?, producerStateStart: Int64) {
        log.withAppendLock { _ in (mirrorSource, producerStateStart) }
    }
}

extension Broker {
    func mirrorAppend(_ request: StraitMirrorAppendRequest) -> StraitMirrorAppendResponse {
        let topics = request.topics.map { topicData in
            StraitMirrorAppendResponse.MirrorAppendTopicResponse(
                name: topicData.name,
                partitions: topicData.partitions.map { mirrorAppendPartition(topicName: topicData.name, $0) })
        }
        return StraitMirrorAppendResponse(throttleTimeMs: 0, topics: topics)
    }

    private func mirrorAppendPartition(topicName: String, _ data: StraitMirrorAppendRequest.MirrorAppendPartition)
        -> StraitMirrorAppendResponse.MirrorAppendPartitionResponse
    {
        let index = data.partitionIndex
        func failure(_ code: KafkaErrorCode, _ message: String, _ partition: PartitionState? = nil)
            -> StraitMirrorAppendResponse.MirrorAppendPartitionResponse
        {
            logger.warning(
                "mirror append refused",
                metadata: ["partition": "\(topicName)-\(index)", "error": "\(code)", "reason": "\(message)"])
            return .init(
                partitionIndex: index, errorCode: code, errorMessage: message,
                logEndOffset: partition?.log.logEndOffset ?? -1, logStartOffset: partition?.log.logStartOffset ?? -1)
        }
        guard let topic = topic(named: topicName) else {
            return failure(
                .unknownTopicOrPartition,
                "unknown topic \(topicName) (mirror topics are created with CreateTopics and \(TopicConfigs.mirrorSourceKey))"
            )
        }
        if InternalTopics.isInternal(topicName) {
            return failure(.invalidTopicException, "\(topicName) is an internal topic; only the broker writes to it")
        }
        guard let partition = partition(topicName, index) else {
            return failure(.unknownTopicOrPartition, "topic \(topicName) has no partition \(index)")
        }
        var batches: [StoredBatch] = []
        if let records = data.records {
            do {
                batches = try MirroredRecordsValidator.validate(records, maxBatchBytes: config.maxRequestBytes)
            } catch {
                return failure(error.kafkaErrorCode, error.description, partition)
            }
        }
        // A compacted topic's batches may be rewritten by either side's cleaner (same offsets,
        // other bytes): re-sent batches are then not compared.
        let outcome = partition.mirrorAppend(
            batches, sourceLogStartOffset: data.sourceLogStartOffset,
            verifyExisting: !topic.configs.isCompacted, now: now())
        if let (code, message) = outcome.error {
            if code == .kafkaStorageError {
                logger.error(
                    "mirror append failed", metadata: ["partition": "\(topicName)-\(index)", "reason": "\(message)"])
            } else {
                logger.warning(
                    "mirror append refused",
                    metadata: ["partition": "\(topicName)-\(index)", "error": "\(code)", "reason": "\(message)"])
            }
        }
        return .init(
            partitionIndex: index, errorCode: (outcome.error?.0 ?? .none), errorMessage: outcome.error?.1,
            logEndOffset: outcome.logEndOffset, logStartOffset: outcome.logStartOffset,
            appendedBatches: outcome.appended, skippedBatches: outcome.skipped)
    }

    /// Applies a change of `strait.mirror.source` to a topic's partitions (callers hold
    /// `adminLock`). Setting it needs every partition never written; deleting it promotes the
    /// topic. Returns the error to report, having undone any partial change.
    func applyMirrorChange(topic: TopicState, from old: String?, to new: String?, validateOnly: Bool) -> (
        KafkaErrorCode, String
    )? {
        guard old != new else { return nil }
        if new != nil, InternalTopics.isInternal(topic.name) {
            return (.invalidConfig, "\(topic.name) is an internal topic; it cannot be a mirror")
        }
        if validateOnly {
            if new != nil, let busy = topic.partitions.first(where: { $0.log.logEndOffset != 0 }) {
                return (
                    .policyViolation,
                    "\(TopicConfigs.mirrorSourceKey) can only be set on a topic that has never held records; \(topic.name)-\(busy.index) has log end offset \(busy.log.logEndOffset) (delete and re-create the topic)"
                )
            }
            return nil
        }
        var changed: [PartitionState] = []
        for partition in topic.partitions {
            if let problem = partition.setMirrorSource(new) {
                for done in changed { _ = done.setMirrorSource(old) }
                return (.policyViolation, problem)
            }
            changed.append(partition)
        }
        if new == nil {
            logger.info("mirror topic promoted", metadata: ["topic": "\(topic.name)", "source": "\(old ?? "")"])
        }
        return nil
    }
}
