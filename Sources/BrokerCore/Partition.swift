import Foundation
import KafkaProtocol
import KafkaRecords
import LogStorage

/// One partition: its log, its idempotent-producer state and the fetches waiting on it.
final class PartitionState: @unchecked Sendable {
    let topic: String
    let index: Int32
    let log: any PartitionLog
    let watchers = AppendWatchers()
    /// Guarded by the log's append lock (`log.withAppendLock`), the one lock of the append path:
    /// a batch's duplicate and sequence check and its append happen as one step, and no append
    /// runs while `mirrorSource` changes.
    var producers = ProducerStateTable()
    /// The source alias while the topic is a mirror (Produce refused, StraitMirrorAppend allowed).
    /// Guarded by the log's append lock.
    var mirrorSource: String?
    /// The topic's `strait.fenced` value while it is fenced (Produce and StraitMirrorAppend
    /// refused; see `TopicConfigs.fence`). Guarded by the log's append lock, so no append that
    /// started before the fence was set lands after the config change returned.
    var fence: String?
    /// Producer state is rebuilt from here on start-up: the log end offset when the topic was
    /// promoted from a mirror (the source's producer ids mean nothing here), else 0.
    /// Guarded by the log's append lock; persisted in the broker metadata.
    var producerStateStart: Int64

    enum AppendOutcome {
        case appended(AppendResult)
        /// A retried batch already in the log: answered with its original first offset.
        case duplicate(firstOffset: Int64)
        case rejected(KafkaErrorCode, String)
    }

    init(
        topic: String, index: Int32, log: any PartitionLog, mirrorSource: String? = nil, fence: String? = nil,
        producerStateStart: Int64 = 0
    ) {
        self.topic = topic
        self.index = index
        self.log = log
        self.mirrorSource = mirrorSource
        self.fence = fence
        self.producerStateStart = producerStateStart
    }

    func append(_ batch: StoredBatch, now: Int64) -> AppendOutcome {
        let outcome: AppendOutcome = log.withAppendLock { writer in
            if let fence {
                // Same code as a mirror topic's refusal, for the same reason: clients must not retry.
                return .rejected(.invalidTopicException, Self.fencedMessage(topic: topic, fence: fence))
            }
            if let source = mirrorSource {
                // INVALID_TOPIC_EXCEPTION: not retriable for the Java client and librdkafka, as for
                // writes to an internal topic; the message says why (Produce v8+ carries it).
                return .rejected(
                    .invalidTopicException,
                    "topic \(topic) is a mirror of \(source); promote it first (delete its \(TopicConfigs.mirrorSourceKey) config)"
                )
            }
            switch producers.verdict(for: batch.header) {
            case let .reject(code, message):
                return .rejected(code, message)
            case let .duplicate(previous):
                return .duplicate(firstOffset: previous.firstOffset)
            case .append:
                do {
                    let result = try writer.append(batch, now: now)
                    producers.record(batch.header, firstOffset: result.baseOffset)
                    return .appended(result)
                } catch {
                    return .rejected(.kafkaStorageError, "append to \(topic)-\(index) failed: \(error)")
                }
            }
        }
        if case .appended = outcome { watchers.notifyAppend() }
        return outcome
    }

    /// Why Produce to a fenced topic is refused (the per-partition error message).
    static func fencedMessage(topic: String, fence: String) -> String {
        "topic \(topic) is fenced (\(TopicConfigs.fencedKey): \(fence)); producers must write to the new primary"
    }

    /// Sets or clears the fence under the append lock: once this returns, no append that has not
    /// finished yet can land in a fenced partition.
    func setFence(_ value: String?) {
        log.withAppendLock { _ in fence = value }
    }

    /// Replays the batch headers of the log's tail so retries after a restart are still
    /// recognised as duplicates.
    func rebuildProducerState(scanningLast offsets: Int64 = 1_000_000) throws {
        // A mirror's batches (and a promoted mirror's, below producerStateStart) were written by
        // the source cluster's producers: their ids may collide with ids this broker hands out.
        let (isMirror, stateStart) = log.withAppendLock { _ in (mirrorSource != nil, producerStateStart) }
        if isMirror { return }
        let from = max(log.logStartOffset, log.logEndOffset - offsets, stateStart)
        guard from < log.logEndOffset else { return }
        let headers = try log.batchHeaders(from: from)
        log.withAppendLock { _ in
            for header in headers { producers.record(header, firstOffset: header.baseOffset) }
        }
    }
}

/// A topic: its id, its partitions and its config overrides.
final class TopicState: @unchecked Sendable {
    let name: String
    let id: KafkaUUID
    var partitions: [PartitionState]
    var configs: TopicConfigs

    init(name: String, id: KafkaUUID, partitions: [PartitionState], configs: TopicConfigs) {
        self.name = name
        self.id = id
        self.partitions = partitions
        self.configs = configs
    }
}

enum TopicNames {
    static let maxLength = 249

    /// Kafka's rule: 1-249 characters of [a-zA-Z0-9._-], and not "." or "..".
    static func problem(with name: String) -> String? {
        if name.isEmpty { return "topic name is empty" }
        if name == "." || name == ".." { return "topic name cannot be '.' or '..'" }
        if name.utf8.count > maxLength { return "topic name is longer than \(maxLength) characters" }
        for byte in name.utf8 {
            let ok =
                (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
            if !ok {
                return "topic name '\(name)' contains a character other than ASCII letters, digits, '.', '_' and '-'"
            }
        }
        return nil
    }
}
