import KafkaRecords
import KafkaProtocol

/// Idempotent-producer bookkeeping for one partition: per producer id, its epoch and the last
/// five batches it wrote (Kafka keeps five, matching max.in.flight.requests.per.connection).
///
/// Invariants: within one epoch, a batch is appended only if its first sequence follows the last
/// sequence written (wrapping at Int32.max); a batch equal to one of the last five is a retry and
/// is answered with the offset it got the first time, without writing it again.
struct ProducerStateTable: Sendable {
    struct BatchEntry: Sendable, Equatable {
        var firstSequence: Int32
        var lastSequence: Int32
        var firstOffset: Int64
        var lastOffset: Int64
    }

    struct ProducerEntry: Sendable, Equatable {
        var epoch: Int16
        var batches: [BatchEntry]
    }

    enum Verdict: Equatable {
        case append
        case duplicate(of: BatchEntry)
        case reject(KafkaErrorCode, String)
    }

    static let retainedBatches = 5
    private(set) var producers: [Int64: ProducerEntry] = [:]

    static func nextSequence(after sequence: Int32) -> Int32 {
        sequence == Int32.max ? 0 : sequence + 1
    }

    func verdict(for header: RecordBatchHeader) -> Verdict {
        guard header.isIdempotent else { return .append }
        guard let entry = producers[header.producerId] else {
            // No state (new producer, or its batches were removed by retention): accept.
            return .append
        }
        if header.producerEpoch < entry.epoch {
            return .reject(
                .invalidProducerEpoch,
                "producer \(header.producerId) epoch \(header.producerEpoch) is older than current epoch \(entry.epoch)"
            )
        }
        if header.producerEpoch > entry.epoch {
            return header.baseSequence == 0
                ? .append
                : .reject(
                    .outOfOrderSequenceNumber,
                    "producer \(header.producerId) new epoch \(header.producerEpoch) must start at sequence 0, got \(header.baseSequence)"
                )
        }
        if let previous = entry.batches.first(where: {
            $0.firstSequence == header.baseSequence && $0.lastSequence == header.lastSequence
        }) {
            return .duplicate(of: previous)
        }
        if let last = entry.batches.last, header.baseSequence != Self.nextSequence(after: last.lastSequence) {
            return .reject(
                .outOfOrderSequenceNumber,
                "producer \(header.producerId) expected sequence \(Self.nextSequence(after: last.lastSequence)), got \(header.baseSequence)"
            )
        }
        return .append
    }

    /// Records a batch that was appended at `firstOffset` (or replayed from the log on start-up).
    mutating func record(_ header: RecordBatchHeader, firstOffset: Int64) {
        guard header.isIdempotent else { return }
        let batch = BatchEntry(
            firstSequence: header.baseSequence, lastSequence: header.lastSequence,
            firstOffset: firstOffset, lastOffset: firstOffset + Int64(header.lastOffsetDelta))
        if var entry = producers[header.producerId], entry.epoch == header.producerEpoch {
            entry.batches.append(batch)
            if entry.batches.count > Self.retainedBatches {
                entry.batches.removeFirst(entry.batches.count - Self.retainedBatches)
            }
            producers[header.producerId] = entry
        } else if producers[header.producerId].map({ $0.epoch < header.producerEpoch }) ?? true {
            producers[header.producerId] = ProducerEntry(epoch: header.producerEpoch, batches: [batch])
        }
    }
}
