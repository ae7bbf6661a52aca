import KafkaProtocol
import Replication
import XCTest

final class CheckpointPlanTests: XCTestCase {
    let policy = ReplicationPolicy(
        source: "east", target: "west", naming: .prefix(separator: "."),
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
            TopicPartition("orders", 1): CommittedOffset(offset: 5),  // below the mirrored range
            TopicPartition("orders", 2): CommittedOffset(offset: 5),  // no map
            TopicPartition("orders", 3): CommittedOffset(offset: 1011),  // not mirrored yet
            TopicPartition("secret", 0): CommittedOffset(offset: 5),  // filtered
            TopicPartition("west.orders", 0): CommittedOffset(offset: 5)  // came from the target
        ]
        let plan = CheckpointPlan(
            group: "billing", committed: committed, policy: policy,
            offsetMap: { maps["\($0)-\($1)"] }, activeAtTarget: false)
        XCTAssertEqual(
            plan.checkpoints,
            [
                Checkpoint(
                    group: "billing", topic: "east.orders", partition: 0,
                    upstreamOffset: 120, downstreamOffset: 100, metadata: "m")
            ])
        XCTAssertEqual(plan.commits, [TargetCommit(topic: "east.orders", partition: 0, offset: 100, metadata: "m")])
        XCTAssertEqual(
            plan.untranslated.map(\.reason),
            [
                .belowMirroredRange(lowest: 1000), .noOffsetMap, .aheadOfMirrored(sourceEnd: 1010),
                .topicNotReplicated(.filtered), .topicNotReplicated(.cycle)
            ])
        let untranslated = committed.keys.sorted().dropFirst()
        XCTAssertEqual(plan.untranslated.map(\.partition), Array(untranslated))
        XCTAssertEqual(plan.untranslated.map(\.committed), untranslated.map { committed[$0]! })
    }

    func testNoCommitsWhenActiveOrTargetAhead() {
        let maps = maps()
        let committed = [
            TopicPartition("orders", 0): CommittedOffset(offset: 50),
            TopicPartition("orders", 1): CommittedOffset(offset: 1005)
        ]
        let active = CheckpointPlan(
            group: "g", committed: committed, policy: policy,
            offsetMap: { maps["\($0)-\($1)"] }, activeAtTarget: true)
        XCTAssertEqual(active.checkpoints.count, 2)
        XCTAssertEqual(active.commits, [])
        let ahead = CheckpointPlan(
            group: "g", committed: committed, policy: policy,
            offsetMap: { maps["\($0)-\($1)"] }, activeAtTarget: false,
            targetCommitted: { topic, partition in partition == 0 ? 60 : 2 })
        XCTAssertEqual(ahead.commits, [TargetCommit(topic: "east.orders", partition: 1, offset: 5, metadata: "")])
    }
}
