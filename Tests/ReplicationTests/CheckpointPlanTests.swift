import Replication
import XCTest

final class CheckpointPlanTests: XCTestCase {
    let policy = ReplicationPolicy(source: "east", target: "west", naming: .prefix(separator: "."),
                                   topics: NameFilter(include: [".*"], exclude: ["secret"]))

    func maps() -> [String: OffsetMap] {
        var orders = OffsetMap()
        orders.record(sourceStart: 0, targetStart: 0, count: 100)
        orders.record(sourceStart: 150, targetStart: 100, count: 50)
        return ["orders-0": orders, "orders-1": OffsetMap(runs: [OffsetRun(sourceStart: 1000, targetStart: 0, length: 10)])]
    }

    func testPlanTranscript() throws {
        let maps = maps()
        let committed = [
            CommittedOffset(topic: "orders", partition: 0, offset: 120, metadata: "m"),
            CommittedOffset(topic: "orders", partition: 1, offset: 5),      // below the mirrored range
            CommittedOffset(topic: "orders", partition: 1, offset: 1011),   // not mirrored yet
            CommittedOffset(topic: "orders", partition: 2, offset: 5),      // no map
            CommittedOffset(topic: "secret", partition: 0, offset: 5),      // filtered
            CommittedOffset(topic: "west.orders", partition: 0, offset: 5), // came from the target
        ]
        let plan = CheckpointPlan(group: "billing", committed: committed, policy: policy,
                                  offsetMap: { maps["\($0)-\($1)"] }, activeAtTarget: false)
        XCTAssertEqual(plan.checkpoints, [Checkpoint(group: "billing", topic: "east.orders", partition: 0,
                                                     upstreamOffset: 120, downstreamOffset: 100, metadata: "m")])
        XCTAssertEqual(plan.commits, [TargetCommit(topic: "east.orders", partition: 0, offset: 100, metadata: "m")])
        XCTAssertEqual(plan.untranslated.map(\.reason), [
            .belowMirroredRange(lowest: 1000), .aheadOfMirrored(sourceEnd: 1010), .noOffsetMap,
            .topicNotReplicated(.filtered), .topicNotReplicated(.cycle),
        ])
        XCTAssertEqual(plan.untranslated.map(\.committed), Array(committed.dropFirst()))
    }

    func testNoCommitsWhenActiveOrTargetAhead() {
        let maps = maps()
        let committed = [CommittedOffset(topic: "orders", partition: 0, offset: 50),
                         CommittedOffset(topic: "orders", partition: 1, offset: 1005)]
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
