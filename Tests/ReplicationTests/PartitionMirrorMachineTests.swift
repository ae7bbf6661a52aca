import KafkaProtocol
import KafkaRecords
import NIOCore
import Replication
import XCTest

/// Transcripts of one partition mirror: each line is an event the runner feeds (with the time)
/// and the actions the machine answers with, in order.
final class PartitionMirrorMachineTests: XCTestCase {
    typealias Machine = PartitionMirrorMachine
    let topicA = KafkaUUID(high: 1, low: 1)
    let topicB = KafkaUUID(high: 2, low: 2)
    let t: Int64 = 1_700_000_000_000

    func machine(
        _ mode: WriteMode, exact: Bool = true, offsetMap: OffsetMap = OffsetMap(),
        _ adjust: (inout Machine.Configuration) -> Void = { _ in }
    ) -> Machine {
        var configuration = Machine.Configuration(
            mode: mode, sourceTopic: "orders", partition: 0, remoteTopic: "east.orders",
            rewriter: MirrorBatchRewriter(
                source: "east", target: "west", provenanceHeader: false, compression: .source),
            duplicatesAreExact: exact)
        adjust(&configuration)
        return Machine(configuration, offsetMap: offsetMap)
    }

    /// A stored batch of `count` records at `base` (timestamps 1000, 1001, ...).
    func batch(_ base: Int64, count: Int, producer: Int64 = -1, transactional: Bool = false, control: Bool = false)
        throws -> StoredBatch
    {
        var builder = RecordBatchBuilder(
            baseOffset: base, producerId: producer, producerEpoch: producer >= 0 ? 0 : -1,
            baseSequence: producer >= 0 ? 0 : -1, isTransactional: transactional, isControl: control)
        for index in 0..<count {
            builder.append(
                key: Array("k\(base + Int64(index))".utf8), value: Array("v".utf8), timestamp: 1_000 + Int64(index))
        }
        var built = try builder.build()
        built.assignBaseOffset(base)
        return built
    }

    func fetched(
        _ from: Int64, _ batches: [StoredBatch], end: Int64, logStart: Int64 = 0,
        aborted: [AbortedTransactionFilter.AbortedTransaction] = []
    ) -> Machine.Event {
        .fetched(
            from: from,
            .batches(
                Machine.FetchedBatches(
                    batches: batches, highWatermark: end, logStartOffset: logStart,
                    abortedTransactions: aborted)))
    }

    func positions(_ logStart: Int64, _ logEnd: Int64, target: Int64) -> Machine.Event {
        .positionsListed(Machine.Positions(sourceLogStart: logStart, sourceLogEnd: logEnd, targetEnd: target))
    }

    /// Takes `m` from its start to the write of its first fetch answer (source log [0, end), an
    /// empty target, topic id A); returns the answer to that last step.
    @discardableResult
    func startWriting(
        _ m: inout Machine, _ batches: [StoredBatch], end: Int64,
        aborted: [AbortedTransactionFilter.AbortedTransaction] = []
    ) -> [Machine.Action] {
        _ = m.handle(.started, now: t)
        _ = m.handle(positions(0, end, target: 0), now: t)
        _ = m.handle(fetched(0, batches, end: end, aborted: aborted), now: t)
        return m.handle(.topicIdSeen(topicA), now: t)
    }

    /// What translate mode produces for a plain batch: the same bytes as a client's batch.
    func produced(_ batches: StoredBatch...) -> Machine.Action {
        .produce(MirrorBatches(batches.map(MirrorBatchRewriter.asClientBatch)))
    }

    func sync(_ source: Int64, _ target: Int64) -> OffsetSync {
        OffsetSync(topic: "orders", partition: 0, upstreamOffset: source, downstreamOffset: target)
    }

    // MARK: Normal flow

    func testPreserveMirrorsFetchAheadAndCatchesUp() throws {
        var m = machine(.preserve)
        let a = try batch(0, count: 3), b = try batch(3, count: 2)
        XCTAssertEqual(m.handle(.started, now: t), [.listPositions])
        XCTAssertEqual(m.handle(positions(0, 5, target: 0), now: t), [.report(.resuming(at: 0)), .fetch(from: 0)])
        // The first answer waits for the topic id (looked up once a second).
        XCTAssertEqual(m.handle(fetched(0, [a, b], end: 5), now: t), [.lookUpTopicId(refreshMetadata: false)])
        // The fetch for where the batches end starts while they are appended.
        XCTAssertEqual(
            m.handle(.topicIdSeen(topicA), now: t),
            [.fetch(from: 5), .appendPreserving(MirrorBatches([a, b]), sourceLogStart: 0)])
        XCTAssertEqual(m.status.oldestUnmirroredTimestamp, 1_000)
        XCTAssertEqual(
            m.handle(.written(targetBaseOffsets: []), now: t + 5), [], "then the answer fetched ahead is taken")
        XCTAssertEqual(m.status.mirroredOffset, 5)
        XCTAssertEqual(m.status.counters.recordsMirrored, 5)
        XCTAssertEqual(m.status.counters.bytesMirrored, Int64(a.bytes.readableBytes + b.bytes.readableBytes))
        XCTAssertNil(m.status.oldestUnmirroredTimestamp, "caught up")
        XCTAssertEqual(m.handle(fetched(5, [], end: 5), now: t + 500), [.fetch(from: 5)])
        XCTAssertEqual(m.handle(fetched(5, [], end: 5), now: t + 1_000), [.lookUpTopicId(refreshMetadata: false)])
        XCTAssertEqual(m.handle(.topicIdSeen(topicA), now: t + 1_000), [.fetch(from: 5)])
        XCTAssertEqual(m.translationMap, OffsetMap(runs: [OffsetRun(sourceStart: 0, targetStart: 0, length: 5)]))
        XCTAssertEqual(m.status.counters.errors, 0)
    }

    func testTranslateProducesRecordsWhereTheyLandAndSyncsAnIdlePartitionWithinASecond() throws {
        var m = machine(.translate)
        let a = try batch(0, count: 3)
        let marker = try batch(3, count: 1, producer: 9, transactional: true, control: true)
        XCTAssertEqual(m.handle(.started, now: t), [.listPositions])
        XCTAssertEqual(m.handle(positions(0, 4, target: 0), now: t), [.report(.resuming(at: 0)), .fetch(from: 0)])
        XCTAssertEqual(m.handle(fetched(0, [a, marker], end: 4), now: t), [.lookUpTopicId(refreshMetadata: false)])
        // The marker is not written; the batch goes out as a client's batch (base offset 0, epoch -1).
        XCTAssertEqual(m.handle(.topicIdSeen(topicA), now: t), [.fetch(from: 4), produced(a)])
        XCTAssertEqual(m.handle(.written(targetBaseOffsets: [0]), now: t), [.writeOffsetSyncs([sync(0, 0)])])
        XCTAssertEqual(m.handle(.offsetSyncsWritten, now: t), [])
        XCTAssertEqual(m.status.mirroredOffset, 4, "past the marker")
        XCTAssertEqual(m.status.counters.recordsMirrored, 3)
        XCTAssertEqual(m.translationMap?.translate(1), 1)
        XCTAssertEqual(m.translationMap?.translate(3), 3, "caught up: one past the newest mirrored record")
        // Idle: the newest position gets its sync once the interval (1 s) has passed.
        XCTAssertEqual(m.handle(fetched(4, [], end: 4), now: t + 999), [.fetch(from: 4)])
        XCTAssertEqual(m.handle(fetched(4, [], end: 4), now: t + 1_000), [.lookUpTopicId(refreshMetadata: false)])
        XCTAssertEqual(
            m.handle(.topicIdSeen(topicA), now: t + 1_000), [.fetch(from: 4), .writeOffsetSyncs([sync(2, 2)])])
        XCTAssertEqual(m.handle(.offsetSyncsWritten, now: t + 1_001), [])
        XCTAssertEqual(m.handle(fetched(4, [], end: 4), now: t + 1_500), [.fetch(from: 4)], "nothing new to sync")
    }

    func testTranslateSyncsEveryTenThousandRecordsWhileBusy() throws {
        var m = machine(.translate)
        XCTAssertEqual(
            startWriting(&m, [try batch(0, count: 6_000)], end: 30_000),
            [.fetch(from: 6_000), produced(try batch(0, count: 6_000))])
        XCTAssertEqual(m.handle(.written(targetBaseOffsets: [0]), now: t + 1), [.writeOffsetSyncs([sync(0, 0)])])
        _ = m.handle(.offsetSyncsWritten, now: t + 1)
        XCTAssertEqual(
            m.handle(fetched(6_000, [try batch(6_000, count: 6_000)], end: 30_000), now: t + 2),
            [.fetch(from: 12_000), produced(try batch(6_000, count: 6_000))])
        XCTAssertEqual(
            m.handle(.written(targetBaseOffsets: [6_000]), now: t + 3), [.writeOffsetSyncs([sync(11_999, 11_999)])],
            "10,000 records since the last sync")
    }

    func testTranslateSkipsMarkersAndAbortedTransactions() throws {
        var m = machine(.translate)
        let aborted = try batch(0, count: 2, producer: 7, transactional: true)
        let abortMarker = try batch(2, count: 1, producer: 7, transactional: true, control: true)
        let plain = try batch(3, count: 2)
        XCTAssertEqual(
            startWriting(&m, [aborted, abortMarker, plain], end: 5, aborted: [.init(producerId: 7, firstOffset: 0)]),
            [.fetch(from: 5), produced(plain)])
        XCTAssertEqual(m.handle(.written(targetBaseOffsets: [0]), now: t), [.writeOffsetSyncs([sync(3, 0)])])
        XCTAssertEqual(m.status.counters.recordsMirrored, 2)
        XCTAssertNil(m.translationMap?.translate(2), "the aborted records were never mirrored: below the map")
        XCTAssertEqual(m.translationMap?.translate(3), 0)
        // A fetch of markers only writes nothing and moves on.
        _ = m.handle(.offsetSyncsWritten, now: t)
        let commitMarker = try batch(5, count: 1, producer: 8, transactional: true, control: true)
        XCTAssertEqual(m.handle(fetched(5, [commitMarker], end: 6), now: t + 10), [.fetch(from: 6)])
    }

    // MARK: Gap

    func testPreserveReportsAGapInAFetchAnswerAndContinuesAtTheLogStart() throws {
        var m = machine(.preserve)
        let b = try batch(50, count: 2)
        _ = m.handle(.started, now: t)
        XCTAssertEqual(m.handle(positions(0, 52, target: 10), now: t), [.report(.resuming(at: 10)), .fetch(from: 10)])
        XCTAssertEqual(
            m.handle(fetched(10, [b], end: 52, logStart: 50), now: t), [.lookUpTopicId(refreshMetadata: false)])
        XCTAssertEqual(
            m.handle(.topicIdSeen(topicA), now: t),
            [
                .report(.gap(Gap(start: 10, end: 50, cause: .sourceLogStartMoved))),
                .fetch(from: 52), .appendPreserving(MirrorBatches([b]), sourceLogStart: 50)
            ])
        XCTAssertEqual(m.status.counters.gaps, 1)
        XCTAssertEqual(m.status.counters.gapOffsets, 40)
        XCTAssertEqual(m.status.lastError, "gap [10, 50) (source retention)")
    }

    func testTranslateReportsAGapFoundByTheListingAfterAnOutOfRangeFetch() throws {
        var m = machine(.translate, offsetMap: OffsetMap(runs: [OffsetRun(sourceStart: 0, targetStart: 0, length: 10)]))
        _ = m.handle(.started, now: t)
        XCTAssertEqual(m.handle(positions(0, 10, target: 10), now: t), [.report(.resuming(at: 10)), .fetch(from: 10)])
        // Retention deletes 10..<50 before the fetch: out of range, so the topic id is checked first.
        XCTAssertEqual(
            m.handle(.fetched(from: 10, .offsetOutOfRange), now: t + 100), [.lookUpTopicId(refreshMetadata: true)])
        XCTAssertEqual(m.handle(.topicIdSeen(topicA), now: t + 100), [.listPositions])
        XCTAssertEqual(
            m.handle(positions(50, 60, target: 10), now: t + 101),
            [
                .report(.gap(Gap(start: 10, end: 50, cause: .sourceLogStartMoved))),
                .report(.resuming(at: 50)), .fetch(from: 50)
            ])
        XCTAssertEqual(m.status.counters.gapOffsets, 40)
        XCTAssertNil(m.translationMap, "offsets below the log start are not translated any more")
        _ = m.handle(fetched(50, [try batch(50, count: 2)], end: 60, logStart: 50), now: t + 102)
        _ = m.handle(.topicIdSeen(topicA), now: t + 102)
        XCTAssertEqual(m.handle(.written(targetBaseOffsets: [10]), now: t + 103), [.writeOffsetSyncs([sync(50, 10)])])
        XCTAssertEqual(m.translationMap?.translate(50), 10)
    }

    // MARK: Re-created source topic

    func testPreserveParksOnARecreatedSourceTopicSayingWhatToDo() throws {
        var m = machine(.preserve)
        startWriting(&m, [try batch(0, count: 5)], end: 5)
        _ = m.handle(.written(targetBaseOffsets: []), now: t)
        // The topic is deleted and created again: the position is out of range of the new log.
        XCTAssertEqual(
            m.handle(.fetched(from: 5, .offsetOutOfRange), now: t + 200), [.lookUpTopicId(refreshMetadata: true)])
        let reason = Machine.ParkReason.sourceTopicRecreated(
            topic: "orders", remoteTopic: "east.orders",
            old: topicA, new: topicB, mirroredUpTo: 5)
        XCTAssertEqual(
            m.handle(.topicIdSeen(topicB), now: t + 200),
            [.report(.topicRecreated(old: topicA, new: topicB, mirroredUpTo: 5)), .park(reason)])
        XCTAssertEqual(m.phase, .parked(reason))
        XCTAssertEqual(m.status.counters.errors, 1)
        XCTAssertTrue("\(reason)".contains("delete east.orders at the target and restart the replicator"), "\(reason)")
        XCTAssertEqual(m.status.lastError, "\(reason)")
        XCTAssertEqual(m.handle(.tick, now: t + 10_000), [], "parked until an operator acts")
        XCTAssertEqual(m.handle(.stop, now: t + 10_000), [])
        XCTAssertEqual(m.phase, .stopped)
    }

    func testPreserveChecksTheTopicIdBeforeWritingAfterARestart() throws {
        // The replicator restarts after the source topic was re-created: its first id is the new
        // one, but the source is behind the mirror, and the restart that follows sees another id.
        var m = machine(.preserve)
        _ = m.handle(.started, now: t)
        _ = m.handle(positions(0, 100, target: 100), now: t)
        _ = m.handle(fetched(100, [], end: 100), now: t)
        _ = m.handle(.topicIdSeen(topicA), now: t)
        XCTAssertEqual(
            m.handle(.fetched(from: 100, .offsetOutOfRange), now: t + 100), [.lookUpTopicId(refreshMetadata: true)])
        XCTAssertEqual(
            m.handle(.topicIdSeen(nil), now: t + 100), [.listPositions], "metadata has no id for the topic yet")
        XCTAssertEqual(
            m.handle(positions(0, 30, target: 100), now: t + 101),
            [
                .report(.sourceBehind(position: 100, sourceLog: 0..<30)), .report(.resuming(at: 0)), .fetch(from: 0)
            ])
        XCTAssertEqual(
            m.handle(fetched(0, [try batch(0, count: 30)], end: 30), now: t + 102),
            [.lookUpTopicId(refreshMetadata: false)],
            "not written before the topic id is known again")
        XCTAssertEqual(
            m.handle(.topicIdSeen(topicB), now: t + 102).last,
            .park(
                .sourceTopicRecreated(
                    topic: "orders", remoteTopic: "east.orders", old: topicA, new: topicB, mirroredUpTo: 0)))
    }

    func testTranslateMirrorsARecreatedTopicFromItsStartWithAFreshOffsetMap() throws {
        var m = machine(.translate)
        startWriting(&m, [try batch(0, count: 5)], end: 8)
        XCTAssertEqual(m.handle(.written(targetBaseOffsets: [0]), now: t), [.writeOffsetSyncs([sync(0, 0)])])
        _ = m.handle(.offsetSyncsWritten, now: t)
        // Offsets 5..<8 of the old topic were never mirrored; the new topic has 2 records.
        XCTAssertEqual(
            m.handle(.fetched(from: 5, .offsetOutOfRange), now: t + 300), [.lookUpTopicId(refreshMetadata: true)])
        XCTAssertEqual(
            m.handle(.topicIdSeen(topicB), now: t + 300),
            [
                .report(.topicRecreated(old: topicA, new: topicB, mirroredUpTo: 5)),
                .report(.gap(Gap(start: 5, end: 8, cause: .topicRecreated))),
                .listPositions
            ])
        XCTAssertEqual(
            m.handle(positions(0, 2, target: 5), now: t + 301),
            [
                .report(.resuming(at: 0)), .fetch(from: 0),
                .writeOffsetSyncs([OffsetSync(topic: "orders", partition: 0, upstreamOffset: -1, downstreamOffset: 5)])
            ], "the reset marker makes a rebuild forget the old topic's runs")
        XCTAssertEqual(m.topicId, topicB)
        XCTAssertNil(m.translationMap)
        _ = m.handle(.offsetSyncsWritten, now: t + 302)
        let c = try batch(0, count: 2)
        XCTAssertEqual(
            m.handle(fetched(0, [c], end: 2), now: t + 400), [.lookUpTopicId(refreshMetadata: false)],
            "the first answer after a restart waits for the topic id")
        XCTAssertEqual(m.handle(.topicIdSeen(topicB), now: t + 400), [.fetch(from: 2), produced(c)])
        XCTAssertEqual(m.handle(.written(targetBaseOffsets: [5]), now: t + 401), [.writeOffsetSyncs([sync(0, 5)])])
        XCTAssertEqual(m.translationMap, OffsetMap(runs: [OffsetRun(sourceStart: 0, targetStart: 5, length: 2)]))
        XCTAssertEqual(m.status.counters.duplicates, 0)
    }

    // MARK: Partial write

    func testTranslatePartialWriteCountsWhatLandedAndTheRestartCountsWhatLandedAfterTheRefusal() throws {
        var m = machine(.translate)
        let a = try batch(0, count: 3), b = try batch(3, count: 3), c = try batch(6, count: 3)
        XCTAssertEqual(startWriting(&m, [a, b, c], end: 9), [.fetch(from: 9), produced(a, b, c)])
        // a lands, b is refused; c, pipelined behind b, lands too (at 3..<6) but is not awaited.
        XCTAssertEqual(
            m.handle(
                .partiallyWritten(
                    targetBaseOffsets: [0], .refused(error: "INVALID_TIMESTAMP (32)", message: "out of range")),
                now: t + 10),
            [
                .cancelFetch,
                .report(
                    .refused(
                        sourceOffsets: 3..<6, error: "INVALID_TIMESTAMP (32)", message: "out of range", retryInMs: 100)),
                .sleep(until: t + 110)
            ])
        XCTAssertEqual(m.status.counters.recordsMirrored, 3, "only what the target accepted")
        XCTAssertEqual(m.status.mirroredOffset, 3)
        XCTAssertEqual(m.status.lastError, "target refused source offsets [3, 6): INVALID_TIMESTAMP (32): out of range")
        XCTAssertEqual(m.handle(.tick, now: t + 110), [.listPositions])
        XCTAssertEqual(
            m.handle(positions(0, 9, target: 6), now: t + 111),
            [
                .report(.resuming(at: 3)), .fetch(from: 3), .writeOffsetSyncs([sync(0, 0)])
            ])
        XCTAssertEqual(
            m.handle(.offsetSyncsWritten, now: t + 112), [], "a sync before the duplicates does not count them")
        XCTAssertEqual(m.status.counters.duplicates, 0)
        XCTAssertEqual(m.handle(fetched(3, [b, c], end: 9), now: t + 200), [.lookUpTopicId(refreshMetadata: false)])
        XCTAssertEqual(m.handle(.topicIdSeen(topicA), now: t + 200), [.fetch(from: 9), produced(b, c)])
        XCTAssertEqual(
            m.handle(.written(targetBaseOffsets: [6, 9]), now: t + 201), [.writeOffsetSyncs([sync(2, 2), sync(3, 6)])])
        XCTAssertEqual(
            m.handle(.offsetSyncsWritten, now: t + 202),
            [.report(.duplicates(count: 3, targetOffsets: 3..<6, resumeAt: 3))])
        XCTAssertEqual(m.status.counters.duplicates, 3)
        XCTAssertEqual(
            m.translationMap,
            OffsetMap(runs: [
                OffsetRun(sourceStart: 0, targetStart: 0, length: 3),
                OffsetRun(sourceStart: 3, targetStart: 6, length: 6)
            ]))
        XCTAssertEqual(m.status.counters.recordsMirrored, 9)
    }

    // MARK: Refusal, failure and retry

    func testPreserveRefusalsBackOffDoublingAndRestartFromTheTargetsEnd() throws {
        var m = machine(.preserve)
        let a = try batch(0, count: 5)
        let refused = Machine.WriteFailure.refused(error: "NOT_LEADER_OR_FOLLOWER (6)", message: "")
        XCTAssertEqual(
            startWriting(&m, [a], end: 5), [.fetch(from: 5), .appendPreserving(MirrorBatches([a]), sourceLogStart: 0)])
        XCTAssertEqual(
            m.handle(.writeFailed(refused), now: t + 10),
            [
                .cancelFetch,
                .report(
                    .refused(sourceOffsets: 0..<5, error: "NOT_LEADER_OR_FOLLOWER (6)", message: "", retryInMs: 100)),
                .sleep(until: t + 110)
            ])
        XCTAssertEqual(m.handle(.tick, now: t + 60), [.sleep(until: t + 110)], "woken early: sleep on")
        XCTAssertEqual(m.handle(.tick, now: t + 110), [.listPositions])
        XCTAssertEqual(m.handle(positions(0, 5, target: 0), now: t + 111), [.report(.resuming(at: 0)), .fetch(from: 0)])
        XCTAssertEqual(m.handle(fetched(0, [a], end: 5), now: t + 112), [.lookUpTopicId(refreshMetadata: false)])
        XCTAssertEqual(
            m.handle(.topicIdSeen(topicA), now: t + 112),
            [.fetch(from: 5), .appendPreserving(MirrorBatches([a]), sourceLogStart: 0)])
        XCTAssertEqual(
            m.handle(.writeFailed(refused), now: t + 120),
            [
                .cancelFetch,
                .report(
                    .refused(sourceOffsets: 0..<5, error: "NOT_LEADER_OR_FOLLOWER (6)", message: "", retryInMs: 200)),
                .sleep(until: t + 320)
            ])
        // Lost connection during the next append: it landed, and the restart finds it at the target.
        _ = m.handle(.tick, now: t + 320)
        _ = m.handle(positions(0, 5, target: 0), now: t + 321)
        _ = m.handle(fetched(0, [a], end: 5), now: t + 322)
        _ = m.handle(.topicIdSeen(topicA), now: t + 322)
        XCTAssertEqual(
            m.handle(.writeFailed(.unanswered("connection closed")), now: t + 330),
            [
                .cancelFetch,
                .report(.failed("write to east.orders-0 failed: connection closed", retryInMs: 400)),
                .sleep(until: t + 730)
            ])
        XCTAssertEqual(m.status.counters.errors, 3)
        XCTAssertEqual(m.status.counters.recordsMirrored, 0)
        _ = m.handle(.tick, now: t + 730)
        XCTAssertEqual(
            m.handle(positions(0, 5, target: 5), now: t + 731), [.report(.resuming(at: 5)), .fetch(from: 5)],
            "preserve resumes at the target's end: nothing written twice")
        // Progress resets the backoff.
        XCTAssertEqual(m.handle(fetched(5, [], end: 5), now: t + 800), [.lookUpTopicId(refreshMetadata: false)])
        XCTAssertEqual(m.handle(.topicIdSeen(topicA), now: t + 800), [.fetch(from: 5)])
        XCTAssertEqual(
            m.handle(
                .fetched(from: 5, .failed("fetch of orders-0 at 5 failed: NOT_LEADER_OR_FOLLOWER (6)")), now: t + 900),
            [.lookUpTopicId(refreshMetadata: true)])
        XCTAssertEqual(
            m.handle(.topicIdSeen(nil), now: t + 900),
            [
                .report(.failed("fetch of orders-0 at 5 failed: NOT_LEADER_OR_FOLLOWER (6)", retryInMs: 100)),
                .sleep(until: t + 1_000)
            ])
    }

    func testBackoffStopsGrowingAtFiveSeconds() throws {
        var m = machine(.translate)
        _ = m.handle(.started, now: t)
        var now = t
        var delays: [Int64] = []
        for _ in 0..<8 {
            guard case let .sleep(until)? = m.handle(.positionsUnavailable("connection refused"), now: now).last else {
                return XCTFail("no backoff")
            }
            delays.append(until - now)
            now = until
            XCTAssertEqual(m.handle(.tick, now: now), [.listPositions])
        }
        XCTAssertEqual(delays, [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000])
        XCTAssertEqual(m.status.lastError, "listing offsets failed: connection refused")
    }

    func testTranslateRefusalIsRetriedAndCountsNothingAsMirrored() throws {
        var m = machine(.translate)
        let a = try batch(0, count: 2)
        startWriting(&m, [a], end: 2)
        let refusal = Machine.WriteFailure.refused(
            error: "INVALID_TIMESTAMP (32)", message: "Timestamp 1000 of message is out of range")
        XCTAssertEqual(
            m.handle(.writeFailed(refusal), now: t + 1).suffix(2),
            [
                .report(
                    .refused(
                        sourceOffsets: 0..<2, error: "INVALID_TIMESTAMP (32)",
                        message: "Timestamp 1000 of message is out of range",
                        retryInMs: 100)),
                .sleep(until: t + 101)
            ])
        XCTAssertEqual(m.handle(.tick, now: t + 101), [.listPositions])
        XCTAssertEqual(m.handle(positions(0, 2, target: 0), now: t + 102), [.report(.resuming(at: 0)), .fetch(from: 0)])
        XCTAssertEqual(m.handle(fetched(0, [a], end: 2), now: t + 103), [.lookUpTopicId(refreshMetadata: false)])
        XCTAssertEqual(
            m.handle(.topicIdSeen(topicA), now: t + 103), [.fetch(from: 2), produced(a)], "the same batch again")
        XCTAssertEqual(m.status.counters.recordsMirrored, 0)
        XCTAssertEqual(m.status.counters.bytesMirrored, 0)
        XCTAssertEqual(m.handle(.written(targetBaseOffsets: [0]), now: t + 104), [.writeOffsetSyncs([sync(0, 0)])])
        XCTAssertEqual(m.status.counters.recordsMirrored, 2)
        XCTAssertEqual(m.status.counters.errors, 1)
    }

    func testAFailedOffsetSyncWriteIsRetriedAfterTheBackoff() throws {
        var m = machine(.translate)
        startWriting(&m, [try batch(0, count: 2)], end: 2)
        XCTAssertEqual(m.handle(.written(targetBaseOffsets: [0]), now: t), [.writeOffsetSyncs([sync(0, 0)])])
        XCTAssertEqual(
            m.handle(.offsetSyncsFailed("NOT_ENOUGH_REPLICAS (19)"), now: t + 5),
            [
                .cancelFetch,
                .report(.failed("writing offset syncs failed: NOT_ENOUGH_REPLICAS (19)", retryInMs: 100)),
                .sleep(until: t + 105)
            ])
        _ = m.handle(.tick, now: t + 105)
        XCTAssertEqual(
            m.handle(positions(0, 2, target: 2), now: t + 106),
            [.report(.resuming(at: 2)), .fetch(from: 2), .writeOffsetSyncs([sync(0, 0)])], "kept, in order")
    }

    // MARK: Restart

    /// The offset syncs that landed before a `kill -9`: the newest says source 99 is at target 99.
    var syncsBeforeTheCrash: [OffsetSync] { [sync(0, 0), sync(99, 99)] }

    /// A start-up from `syncs` with the target's end at `targetEnd`, through the write of source
    /// [100, 110) at `targetEnd` (the source log is [0, 150)); returns the answer to the write.
    func restartWriting(_ m: inout Machine, targetEnd: Int64, resumeAt: Int64 = 100) throws -> [Machine.Action] {
        XCTAssertEqual(m.handle(.started, now: t), [.listPositions])
        XCTAssertEqual(
            m.handle(positions(0, 150, target: targetEnd), now: t),
            [.report(.resuming(at: resumeAt)), .fetch(from: resumeAt)])
        let again = try batch(resumeAt, count: 110 - Int(resumeAt))
        _ = m.handle(fetched(resumeAt, [again], end: 150), now: t + 1)
        XCTAssertEqual(m.handle(.topicIdSeen(topicA), now: t + 1), [.fetch(from: 110), produced(again)])
        return m.handle(.written(targetBaseOffsets: [targetEnd]), now: t + 2)
    }

    func testTranslateRestartFromTheOffsetSyncsCountsWhatWasWrittenAfterTheLastOneOnceASyncPastItIsWritten() throws {
        var m = machine(.translate, offsetMap: OffsetMap(rebuiltFrom: syncsBeforeTheCrash))
        XCTAssertEqual(m.translationMap?.translate(50), 50, "checkpoints translate with the rebuilt map at once")
        // Target [100, 120) was written after the last sync: found by the listing, not counted yet.
        XCTAssertEqual(try restartWriting(&m, targetEnd: 120), [.writeOffsetSyncs([sync(100, 120)])])
        XCTAssertEqual(m.status.mirroredOffset, 110)
        XCTAssertEqual(
            m.status.counters.duplicates, 0, "a start-up from the syncs written so far would find them again")
        XCTAssertEqual(
            m.handle(.offsetSyncsWritten, now: t + 3),
            [.report(.duplicates(count: 20, targetOffsets: 100..<120, resumeAt: 100))])
        XCTAssertEqual(m.status.counters.duplicates, 20)
        XCTAssertEqual(m.handle(.offsetSyncsWritten, now: t + 4), [], "counted once")
        XCTAssertEqual(m.status.counters.duplicates, 20)
    }

    func testARestartKilledBeforeItsFirstOffsetSyncLeavesItsDuplicatesToTheNextStartWhichCountsThemOnce() throws {
        var first = machine(.translate, offsetMap: OffsetMap(rebuiltFrom: syncsBeforeTheCrash))
        XCTAssertEqual(try restartWriting(&first, targetEnd: 120), [.writeOffsetSyncs([sync(100, 120)])])
        // kill -9: the sync never lands. The target holds [100, 120) (first copies of source
        // 100..<120) and [120, 130) (second copies of 100..<110); the next start, from the syncs
        // that landed, resumes at 100 again: 30 records past the map.
        var second = machine(.translate, offsetMap: OffsetMap(rebuiltFrom: syncsBeforeTheCrash))
        XCTAssertEqual(try restartWriting(&second, targetEnd: 130), [.writeOffsetSyncs([sync(100, 130)])])
        XCTAssertEqual(
            second.handle(.offsetSyncsWritten, now: t + 3),
            [.report(.duplicates(count: 30, targetOffsets: 100..<130, resumeAt: 100))])
        XCTAssertEqual(
            first.status.counters.duplicates + second.status.counters.duplicates, 30,
            "the target holds 130 records for source 0..<100 plus every record from 100 again: 30 extra")
    }

    func testARestartKilledAfterItsFirstOffsetSyncLeavesTheNextStartOnlyWhatWasWrittenAfterIt() throws {
        var first = machine(.translate, offsetMap: OffsetMap(rebuiltFrom: syncsBeforeTheCrash))
        XCTAssertEqual(try restartWriting(&first, targetEnd: 120), [.writeOffsetSyncs([sync(100, 120)])])
        XCTAssertEqual(
            first.handle(.offsetSyncsWritten, now: t + 3),
            [.report(.duplicates(count: 20, targetOffsets: 100..<120, resumeAt: 100))])
        // kill -9 after that sync landed, with [120, 130) written: the next start's map ends at
        // source 100 at target 120, so it resumes at 101 and finds [121, 130).
        var second = machine(.translate, offsetMap: OffsetMap(rebuiltFrom: syncsBeforeTheCrash + [sync(100, 120)]))
        XCTAssertEqual(
            try restartWriting(&second, targetEnd: 130, resumeAt: 101), [.writeOffsetSyncs([sync(101, 130)])])
        XCTAssertEqual(
            second.handle(.offsetSyncsWritten, now: t + 3),
            [.report(.duplicates(count: 9, targetOffsets: 121..<130, resumeAt: 101))])
        XCTAssertEqual(
            first.status.counters.duplicates + second.status.counters.duplicates, 29,
            "130 target records for source 0..<101, then every record from 101 again: 29 extra")
    }

    func testDuplicatesWaitForAFailedOffsetSyncWriteToBeRetried() throws {
        var m = machine(.translate, offsetMap: OffsetMap(rebuiltFrom: syncsBeforeTheCrash))
        XCTAssertEqual(try restartWriting(&m, targetEnd: 120), [.writeOffsetSyncs([sync(100, 120)])])
        XCTAssertEqual(
            m.handle(.offsetSyncsFailed("NOT_ENOUGH_REPLICAS (19)"), now: t + 5),
            [
                .cancelFetch,
                .report(.failed("writing offset syncs failed: NOT_ENOUGH_REPLICAS (19)", retryInMs: 100)),
                .sleep(until: t + 105)
            ])
        XCTAssertEqual(m.status.counters.duplicates, 0)
        XCTAssertEqual(m.handle(.tick, now: t + 105), [.listPositions])
        // In-process: the target's end is where this link wrote to; the duplicates wait for the retry.
        XCTAssertEqual(
            m.handle(positions(0, 150, target: 130), now: t + 106),
            [.report(.resuming(at: 110)), .fetch(from: 110), .writeOffsetSyncs([sync(100, 120)])])
        XCTAssertEqual(
            m.handle(.offsetSyncsWritten, now: t + 107),
            [.report(.duplicates(count: 20, targetOffsets: 100..<120, resumeAt: 100))])
        XCTAssertEqual(m.status.counters.duplicates, 20)
    }

    func testStopCountsTheDuplicatesItsLastOffsetSyncsAccountFor() throws {
        var m = machine(.translate, offsetMap: OffsetMap(rebuiltFrom: syncsBeforeTheCrash))
        XCTAssertEqual(try restartWriting(&m, targetEnd: 120), [.writeOffsetSyncs([sync(100, 120)])])
        _ = m.handle(.offsetSyncsFailed("connection reset"), now: t + 3)
        XCTAssertEqual(m.handle(.stop, now: t + 4), [.writeOffsetSyncs([sync(100, 120), sync(109, 129)])])
        XCTAssertEqual(
            m.handle(.offsetSyncsWritten, now: t + 5),
            [.report(.duplicates(count: 20, targetOffsets: 100..<120, resumeAt: 100))])
        XCTAssertEqual(m.phase, .stopped)
        XCTAssertEqual(m.status.counters.duplicates, 20)
    }

    func testTranslateRestartWithIdentityNamingReportsButDoesNotCountRecordsPastTheMap() {
        var m = machine(.translate, exact: false, offsetMap: OffsetMap(rebuiltFrom: [sync(0, 0), sync(99, 99)]))
        _ = m.handle(.started, now: t)
        XCTAssertEqual(
            m.handle(positions(0, 150, target: 120), now: t),
            [
                .report(.unmappedTargetRecords(targetOffsets: 100..<120, resumeAt: 100)),
                .report(.resuming(at: 100)), .fetch(from: 100)
            ])
        XCTAssertEqual(m.status.counters.duplicates, 0)
    }

    func testANewTranslateLinkFollowsWhatTheRemoteTopicHolds() throws {
        var m = machine(.translate)
        _ = m.handle(.started, now: t)
        XCTAssertEqual(
            m.handle(positions(20, 30, target: 7), now: t),
            [
                .report(.targetAlreadyHoldsRecords(targetEnd: 7)), .report(.resuming(at: 20)), .fetch(from: 20)
            ])
        _ = m.handle(fetched(20, [try batch(20, count: 10)], end: 30, logStart: 20), now: t)
        _ = m.handle(.topicIdSeen(topicA), now: t)
        XCTAssertEqual(m.handle(.written(targetBaseOffsets: [7]), now: t), [.writeOffsetSyncs([sync(20, 7)])])
        XCTAssertEqual(m.status.counters.duplicates, 0)
    }

    func testPreserveRestartsAtTheTargetsEndOrTheSourceLogStartOfAnEmptyMirror() {
        var resumed = machine(.preserve)
        _ = resumed.handle(.started, now: t)
        XCTAssertEqual(
            resumed.handle(positions(0, 50, target: 30), now: t), [.report(.resuming(at: 30)), .fetch(from: 30)])
        var fresh = machine(.preserve)
        _ = fresh.handle(.started, now: t)
        XCTAssertEqual(
            fresh.handle(positions(20, 50, target: 0), now: t), [.report(.resuming(at: 20)), .fetch(from: 20)],
            "a new mirror starts at the source's log start: no gap")
        XCTAssertEqual(fresh.status.counters.gaps, 0)
    }

    func testASourceBehindTheMirroredPositionRestartsFromItsStart() {
        var m = machine(.preserve)
        _ = m.handle(.started, now: t)
        XCTAssertEqual(
            m.handle(positions(0, 3, target: 30), now: t),
            [
                .report(.sourceBehind(position: 30, sourceLog: 0..<3)), .report(.resuming(at: 0)), .fetch(from: 0)
            ])
        XCTAssertEqual(m.status.counters.errors, 1)
        XCTAssertEqual(m.status.lastError, "source behind mirrored position 30: [0, 3)")
    }

    // MARK: Stop

    func testStopCancelsTheFetchAndWritesTheNewestPosition() throws {
        var m = machine(.translate)
        startWriting(&m, [try batch(0, count: 3)], end: 3)
        _ = m.handle(.written(targetBaseOffsets: [0]), now: t)
        _ = m.handle(.offsetSyncsWritten, now: t)
        XCTAssertEqual(m.handle(.stop, now: t + 50), [.cancelFetch, .writeOffsetSyncs([sync(2, 2)])])
        XCTAssertEqual(m.phase, .stopping)
        XCTAssertEqual(
            m.handle(.offsetSyncsFailed("connection refused"), now: t + 60),
            [.report(.lastOffsetSyncsLost("connection refused"))])
        XCTAssertEqual(m.phase, .stopped)
        XCTAssertEqual(m.handle(.stop, now: t + 70), [])
    }

    func testStopDuringABackoffWritesTheSyncsLeftOver() throws {
        var m = machine(.translate)
        startWriting(&m, [try batch(0, count: 3)], end: 3)
        _ = m.handle(.written(targetBaseOffsets: [0]), now: t)
        _ = m.handle(.offsetSyncsFailed("NOT_ENOUGH_REPLICAS (19)"), now: t)
        XCTAssertEqual(m.handle(.stop, now: t + 10), [.writeOffsetSyncs([sync(0, 0), sync(2, 2)])])
        XCTAssertEqual(m.handle(.offsetSyncsWritten, now: t + 11), [])
        XCTAssertEqual(m.phase, .stopped)
    }

    // MARK: Offset map retention

    func testTheOffsetMapKeepsItsNewestRunsAndNothingBelowTheSourceLogStart() throws {
        var m = machine(.translate) { $0.maxOffsetMapRuns = 2 }
        _ = m.handle(.started, now: t)
        _ = m.handle(positions(0, 100, target: 0), now: t)
        // Three batches with compaction holes between them: three runs.
        let batches = [try batch(0, count: 2), try batch(10, count: 2), try batch(20, count: 2)]
        _ = m.handle(fetched(0, batches, end: 100), now: t)
        _ = m.handle(.topicIdSeen(topicA), now: t)
        _ = m.handle(.written(targetBaseOffsets: [0, 2, 4]), now: t)
        _ = m.handle(.offsetSyncsWritten, now: t)
        XCTAssertEqual(
            m.translationMap?.runs,
            [
                OffsetRun(sourceStart: 10, targetStart: 2, length: 2),
                OffsetRun(sourceStart: 20, targetStart: 4, length: 2)
            ])
        XCTAssertNil(m.translationMap?.translate(1), "pruned away")
        XCTAssertEqual(m.translationMap?.translate(5), 2, "offsets in the hole before a kept run still translate")
        // The source's retention moves its log start to 15: the run at 10 goes.
        XCTAssertEqual(m.handle(fetched(22, [], end: 100, logStart: 15), now: t + 10), [.fetch(from: 22)])
        XCTAssertEqual(m.translationMap?.runs, [OffsetRun(sourceStart: 20, targetStart: 4, length: 2)])
        XCTAssertNil(m.translationMap?.translate(14))
        XCTAssertEqual(m.translationMap?.translate(15), 4)
    }
}
