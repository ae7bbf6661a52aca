import KafkaProtocol
import Replication
import XCTest

final class CheckpointPlanTests: XCTestCase {
    let policy = ReplicationPolicy(source: "east", target: "west", naming: .prefix(separator: "."),
                                   topics: NameFilter(include: [".*"], exclude: ["secret"]))

    func maps() -> [String: OffsetMap] {
        var orders = OffsetMap()
        orders.record(sourceStart: 0, targetStart: 0, count: 100)
        orders.record(sourceStart: 150, targetStart: 100, count: 50)
        let later = OffsetMap(runs: [OffsetRun(sourceStart: 1000, targetStart: 0, length: 10)])
        return ["orders-0": orders, "orders-1": later, "orders-3": later]
    }

    func testPlanTranscript() throws {
        let maps = maps()
        let committed: [TopicPartition: CommittedOffset] = [
            TopicPartition("orders", 0): CommittedOffset(offset: 120, metadata: "m"),
            TopicPartition("orders", 1): CommittedOffset(offset: 5),      // below the mirrored range
            TopicPartition("orders", 2): CommittedOffset(offset: 5),      // no map
            TopicPartition("orders", 3): CommittedOffset(offset: 1011),   // not mirrored yet
            TopicPartition("secret", 0): CommittedOffset(offset: 5),      // filtered
            TopicPartition("west.orders", 0): CommittedOffset(offset: 5), // came from the target
        ]
        let plan = CheckpointPlan(group: "billing", committed: committed, policy: policy,
                                  offsetMap: { maps["\($0)-\($1)"] }, activeAtTarget: false)
        XCTAssertEqual(plan.checkpoints, [Checkpoint(group: "billing", topic: "east.orders", partition: 0,
                                                     upstreamOffset: 120, downstreamOffset: 100, metadata: "m")])
        XCTAssertEqual(plan.commits, [TargetCommit(topic: "east.orders", partition: 0, offset: 100, metadata: "m")])
        XCTAssertEqual(plan.untranslated.map(\.reason), [
            .belowMirroredRange(lowest: 1000), .noOffsetMap, .aheadOfMirrored(sourceEnd: 1010),
            .topicNotReplicated(.filtered), .topicNotReplicated(.cycle),
        ])
        let untranslated = committed.keys.sorted().dropFirst()
        XCTAssertEqual(plan.untranslated.map(\.partition), Array(untranslated))
        XCTAssertEqual(plan.untranslated.map(\.committed), untranslated.map { committed[$0]! })
    }

    func testNoCommitsWhenActiveOrTargetAhead() {
        let maps = maps()
        let committed = [TopicPartition("orders", 0): CommittedOffset(offset: 50),
                         TopicPartition("orders", 1): CommittedOffset(offset: 1005)]
        let active = CheckpointPlan(group: "g", committed: committed, policy: policy,
                                    offsetMap: { maps["\($0)-\($1)"] }, activeAtTarget: true)
        XCTAssertEqual(active.checkpoints.count, 2)
        XCTAssertEqual(active.commits, [])
        let ahead = CheckpointPlan(group: "g", committed: committed, policy: policy,
                                   offsetMap: { maps["\($0)-\($1)"] }, activeAtTarget: false,
                                   targetCommitted: { topic, partition in partition == 0 ? 60 : 2 })
        XCTAssertEqual(ahead.commits, [TargetCommit(topic: "east.orders", partition: 1, offset: 5, metadata: "")])
    }
}

final class PartitionLinkStateTests: XCTestCase {
    let topicA = KafkaUUID(high: 1, low: 1)
    let topicB = KafkaUUID(high: 2, low: 2)

    func testNotStartedRefusesEvents() {
        var state = PartitionLinkState()
        XCTAssertEqual(state.handle(.fetched(baseOffset: 0, lastOffset: 1)), [.ignoredNotStarted])
        XCTAssertEqual(state.handle(.sourceOffsetsObserved(logStart: 0, end: 5, topicId: topicA)), [.ignoredNotStarted])
        XCTAssertNil(state.lag(now: 0, oldestUnmirroredTimestamp: nil))
    }

    func testMirroringTranscript() {
        var state = PartitionLinkState()
        XCTAssertEqual(state.handle(.started(topicId: topicA, resumeAt: 0, targetEndOffset: 0, mappedTargetEnd: nil)), [.fetch(from: 0)])
        XCTAssertEqual(state.handle(.sourceOffsetsObserved(logStart: 0, end: 10, topicId: topicA)), [.pruneOffsetMap(sourceLogStart: 0)])
        XCTAssertEqual(state.lag(now: 5_000, oldestUnmirroredTimestamp: 1_000),
                       PartitionLag(sourceEndOffset: 10, mirroredOffset: 0, records: 10, oldestUnmirroredAgeMs: 4_000))
        XCTAssertEqual(state.handle(.fetched(baseOffset: 0, lastOffset: 5)), [.mirror(from: 0)])
        XCTAssertEqual(state.handle(.written(.init(sourceOffsets: SourceOffsets(0..<5), sourceNextOffset: 6, bytes: 300, loopRecordsSkipped: 1))), [])
        XCTAssertEqual(state.nextOffset, 6)
        XCTAssertEqual(state.handle(.fetched(baseOffset: 0, lastOffset: 5)), [.discardFetched])
        XCTAssertEqual(state.handle(.fetched(baseOffset: 4, lastOffset: 9)), [.mirror(from: 6)])
        _ = state.handle(.written(.init(sourceOffsets: SourceOffsets(6..<10), sourceNextOffset: 10, bytes: 200)))
        XCTAssertEqual(state.lag(now: 9_000, oldestUnmirroredTimestamp: nil)?.records, 0)
        XCTAssertEqual(state.lag(now: 9_000, oldestUnmirroredTimestamp: nil)?.oldestUnmirroredAgeMs, 0)
        XCTAssertEqual(state.counters.recordsMirrored, 9)
        XCTAssertEqual(state.counters.bytesMirrored, 500)
        XCTAssertEqual(state.counters.batchesMirrored, 2)
        XCTAssertEqual(state.counters.loopRecordsSkipped, 1)
        XCTAssertEqual(state.counters.gaps, 0)
    }

    func testRetentionGapIsReportedWithExactOffsets() {
        var state = PartitionLinkState()
        _ = state.handle(.started(topicId: topicA, resumeAt: 40, targetEndOffset: 0, mappedTargetEnd: nil))
        XCTAssertEqual(state.handle(.sourceOffsetsObserved(logStart: 100, end: 300, topicId: topicA)), [
            .pruneOffsetMap(sourceLogStart: 100),
            .reportGap(Gap(start: 40, end: 100, cause: .sourceLogStartMoved)),
            .fetch(from: 100),
        ])
        XCTAssertEqual(state.counters.gaps, 1)
        XCTAssertEqual(state.counters.gapOffsets, 60)
        XCTAssertEqual(state.nextOffset, 100)
        XCTAssertEqual(state.handle(.sourceOffsetsObserved(logStart: 100, end: 310, topicId: topicA)), [], "no news")
    }

    func testRestartCountsDuplicates() {
        var state = PartitionLinkState()
        XCTAssertEqual(state.handle(.started(topicId: topicA, resumeAt: 500, targetEndOffset: 520, mappedTargetEnd: 505)),
                       [.reportDuplicates(15), .fetch(from: 500)])
        XCTAssertEqual(state.counters.duplicates, 15)
        // Writing below the position (a rewind) counts too.
        _ = state.handle(.written(.init(sourceOffsets: SourceOffsets(495..<505), sourceNextOffset: 505, bytes: 10)))
        XCTAssertEqual(state.counters.duplicates, 20)
        XCTAssertEqual(state.nextOffset, 505)
    }

    func testTopicRecreation() {
        var state = PartitionLinkState()
        _ = state.handle(.started(topicId: topicA, resumeAt: 0, targetEndOffset: 0, mappedTargetEnd: nil))
        _ = state.handle(.sourceOffsetsObserved(logStart: 0, end: 50, topicId: topicA))
        _ = state.handle(.written(.init(sourceOffsets: SourceOffsets(0..<30), sourceNextOffset: 30, bytes: 1)))
        XCTAssertEqual(state.handle(.sourceOffsetsObserved(logStart: 0, end: 3, topicId: topicB)), [
            .reportGap(Gap(start: 30, end: 50, cause: .topicRecreated)),
            .resetOffsetMap,
            .fetch(from: 0),
        ])
        XCTAssertEqual(state.topicId, topicB)
        XCTAssertEqual(state.nextOffset, 0)
        XCTAssertEqual(state.counters.topicRecreations, 1)
        XCTAssertEqual(state.lastGap?.count, 20)
    }
}
