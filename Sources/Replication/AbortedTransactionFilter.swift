import KafkaRecords
import KafkaProtocol

/// Decides which batches of one fetch a read_committed consumer would not see: control batches
/// (transaction markers) and the data batches of aborted transactions. Translate-mode links use
/// it so that aborted records are never written at the target, where no marker follows them.
///
/// The rule is Kafka's consumer's: a fetch at READ_COMMITTED returns batches up to the last
/// stable offset plus the list of aborted transactions (producer id, first offset) that overlap
/// them. Walking the batches in offset order, a producer id becomes "aborting" once a batch
/// reaches its first offset; its transactional batches are then dropped until its next control
/// batch (the abort marker: a producer has one open transaction at a time), which ends it.
/// Decided per batch from the headers alone: nothing is decompressed.
public enum AbortedTransactionFilter {
    public struct AbortedTransaction: Hashable, Sendable {
        public var producerId: ProducerID
        public var firstOffset: Offset

        public init(producerId: ProducerID, firstOffset: Offset) {
            self.producerId = producerId
            self.firstOffset = firstOffset
        }
    }

    /// For each batch, in order, whether it must not be mirrored (a control batch, or data of an
    /// aborted transaction).
    public static func skipped(_ headers: [RecordBatchHeader], aborted: [AbortedTransaction]) -> [Bool] {
        let pending = aborted.sorted { $0.firstOffset < $1.firstOffset }
        var next = 0
        var aborting: Set<Int64> = []
        return headers.map { header in
            while next < pending.count, pending[next].firstOffset <= header.lastOffset {
                aborting.insert(pending[next].producerId)
                next += 1
            }
            if header.isControl {
                aborting.remove(header.producerId)
                return true
            }
            return header.isTransactional && aborting.contains(header.producerId)
        }
    }
}
