import KafkaRecords
import Replication
import XCTest

/// A read_committed fetch of a partition that two transactional producers (ids 7 and 8) and one
/// plain producer write, read as a transcript: which batches a translate-mode link may write.
final class AbortedTransactionFilterTests: XCTestCase {
    func header(
        _ base: Int64, count: Int32 = 2, producer: Int64 = -1, transactional: Bool = false,
        control: Bool = false
    ) -> RecordBatchHeader {
        var builder = RecordBatchBuilder(
            baseOffset: base, producerId: producer, producerEpoch: producer >= 0 ? 0 : -1,
            baseSequence: producer >= 0 ? 0 : -1, isTransactional: transactional, isControl: control)
        for index in 0..<count { builder.append(key: [UInt8(index)], value: [1], timestamp: 0) }
        var batch = try! builder.build()
        batch.assignBaseOffset(base)
        return batch.header
    }

    func testAbortedTransactionsAndMarkersAreSkippedCommittedOnesKept() {
        let log = [
            header(0, producer: 7, transactional: true),  // 0-1   txn of 7, aborted below
            header(2),  // 2-3   plain producer
            header(4, producer: 8, transactional: true),  // 4-5   txn of 8, committed
            header(6, count: 1, producer: 7, transactional: true, control: true),  // 6 abort marker of 7
            header(7, producer: 7, transactional: true),  // 7-8   a new txn of 7, committed
            header(9, count: 1, producer: 8, transactional: true, control: true),  // 9 commit marker of 8
            header(10, count: 1, producer: 7, transactional: true, control: true)  // 10 commit marker of 7
        ]
        let aborted = [AbortedTransactionFilter.AbortedTransaction(producerId: 7, firstOffset: 0)]
        XCTAssertEqual(
            AbortedTransactionFilter.skipped(log, aborted: aborted),
            [true, false, false, true, false, true, true])
    }

    func testAnAbortedTransactionStartingInsideALaterBatchOnlyStartsThere() {
        let log = [
            header(0, producer: 7, transactional: true),  // a committed txn of 7 (marker at 2)
            header(2, count: 1, producer: 7, transactional: true, control: true),
            header(3, producer: 7, transactional: true),  // aborted from 3
            header(5, count: 1, producer: 7, transactional: true, control: true)
        ]
        let aborted = [AbortedTransactionFilter.AbortedTransaction(producerId: 7, firstOffset: 3)]
        XCTAssertEqual(AbortedTransactionFilter.skipped(log, aborted: aborted), [false, true, true, true])
    }

    func testWithoutTransactionsNothingIsSkipped() {
        let log = [header(0), header(2, producer: 3), header(4)]
        XCTAssertEqual(AbortedTransactionFilter.skipped(log, aborted: []), [false, false, false])
        // An idempotent (non-transactional) batch of a producer id listed as aborted is kept.
        XCTAssertEqual(
            AbortedTransactionFilter.skipped(log, aborted: [.init(producerId: 3, firstOffset: 0)]),
            [false, false, false])
    }
}
