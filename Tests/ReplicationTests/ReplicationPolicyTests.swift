import Replication
import XCTest

final class ReplicationPolicyTests: XCTestCase {
    let eastToWest = ReplicationPolicy(source: "east", target: "west", naming: .prefix(separator: "."))

    func testPrefixNaming() {
        XCTAssertEqual(eastToWest.remoteTopic(for: "orders"), "east.orders")
        XCTAssertEqual(eastToWest.remoteTopic(for: "central.orders"), "east.central.orders")
        let dashed = ReplicationPolicy(source: "east", target: "west", naming: .prefix(separator: "--"))
        XCTAssertEqual(dashed.remoteTopic(for: "orders"), "east--orders")
        XCTAssertEqual(dashed.originSite(of: "east--orders"), "east")
        XCTAssertEqual(dashed.upstreamTopic(of: "east--orders"), "orders")
        XCTAssertNil(dashed.originSite(of: "east.orders"))
    }

    func testOriginAndUpstream() {
        XCTAssertEqual(eastToWest.originSite(of: "west.orders"), "west")
        XCTAssertEqual(eastToWest.upstreamTopic(of: "west.orders"), "orders")
        XCTAssertEqual(eastToWest.originSite(of: "central.west.orders"), "central")
        XCTAssertEqual(eastToWest.upstreamTopic(of: "central.west.orders"), "west.orders")
        XCTAssertEqual(eastToWest.originalTopic(of: "central.west.orders"), "orders")
        XCTAssertEqual(eastToWest.originalTopic(of: "orders"), "orders")
        XCTAssertNil(eastToWest.originSite(of: "orders"))
        XCTAssertNil(eastToWest.upstreamTopic(of: "orders"))
        // Java's split drops trailing empty parts: these are not remote topics in MM2 either.
        XCTAssertNil(eastToWest.originSite(of: "west."))
        XCTAssertNil(eastToWest.originSite(of: "west.."))
        XCTAssertEqual(eastToWest.originSite(of: "west..x"), "west")
        XCTAssertEqual(eastToWest.upstreamTopic(of: "west..x"), ".x")
    }

    func testTopicFromTheTargetIsNeverSentBack() {
        // Link east -> west: `west.orders` at east came from west.
        XCTAssertEqual(eastToWest.decision(for: "west.orders"), .skip(.cycle))
        XCTAssertEqual(eastToWest.decision(for: "central.west.orders"), .skip(.cycle))
        XCTAssertEqual(eastToWest.decision(for: "central.orders"), .replicate(remoteTopic: "east.central.orders"))
        XCTAssertEqual(eastToWest.decision(for: "orders"), .replicate(remoteTopic: "east.orders"))
        XCTAssertTrue(eastToWest.isCycle("west.x"))
        XCTAssertFalse(eastToWest.isCycle("westx"))
    }

    func testInternalTopicsAreNeverReplicated() {
        for topic in [
            "__consumer_offsets", "__transaction_state", "__strait_groups", ".hidden",
            "mm2-offset-syncs.west.internal", "east.checkpoints.internal", "connect-configs-internal",
            "west.checkpoints.internal"
        ] {
            XCTAssertTrue(eastToWest.isInternal(topic), topic)
            XCTAssertEqual(eastToWest.decision(for: topic), .skip(.internalTopic), topic)
        }
        XCTAssertFalse(eastToWest.isInternal("internal.orders"))
        XCTAssertFalse(eastToWest.isInternal("orders_internal"))
    }

    func testFilterIsWholeNameJavaRegex() {
        let policy = ReplicationPolicy(
            source: "east", target: "west", naming: .prefix(separator: "."),
            topics: NameFilter(include: ["orders.*", "payments"], exclude: [".*-tmp"]))
        XCTAssertTrue(policy.shouldReplicate("orders"))
        XCTAssertTrue(policy.shouldReplicate("orders-eu"))
        XCTAssertFalse(policy.shouldReplicate("orders-tmp"))
        XCTAssertFalse(policy.shouldReplicate("payments2"), "patterns match the whole name")
        XCTAssertFalse(policy.shouldReplicate("xpayments"))
        XCTAssertEqual(policy.decision(for: "users"), .skip(.filtered))
        // Alternation inside a pattern stays anchored as a whole.
        XCTAssertTrue(NameFilter(include: ["a|b"]).matches("b"))
        XCTAssertFalse(NameFilter(include: ["a|b"]).matches("ab"))
        // A pattern that does not compile matches nothing.
        XCTAssertFalse(NameFilter(include: ["("]).matches("("))
    }

    func testHeartbeatsAreReplicatedEvenWhenFilteredOut() {
        let policy = ReplicationPolicy(
            source: "east", target: "west", naming: .prefix(separator: "."),
            topics: NameFilter(include: ["orders"]))
        XCTAssertEqual(policy.decision(for: "heartbeats"), .replicate(remoteTopic: "east.heartbeats"))
        XCTAssertEqual(policy.decision(for: "central.heartbeats"), .replicate(remoteTopic: "east.central.heartbeats"))
        XCTAssertEqual(policy.decision(for: "west.heartbeats"), .skip(.cycle))
        var noHeartbeats = policy
        noHeartbeats.replicatesHeartbeats = false
        XCTAssertEqual(noHeartbeats.decision(for: "heartbeats"), .skip(.filtered))
    }

    func testIdentityNaming() {
        let policy = ReplicationPolicy(source: "east", target: "west", naming: .identity)
        XCTAssertEqual(policy.remoteTopic(for: "orders"), "orders")
        XCTAssertEqual(policy.remoteTopic(for: "west.orders"), "west.orders")
        XCTAssertNil(policy.originSite(of: "west.orders"), "identity names carry no origin")
        XCTAssertEqual(policy.decision(for: "west.orders"), .replicate(remoteTopic: "west.orders"))
        // Heartbeats keep a prefix under identity naming, as MM2's IdentityReplicationPolicy does.
        XCTAssertEqual(policy.remoteTopic(for: "heartbeats"), "east.heartbeats")
        XCTAssertEqual(policy.originSite(of: "west.heartbeats"), "west")
        XCTAssertEqual(policy.decision(for: "west.heartbeats"), .skip(.cycle))
        XCTAssertEqual(policy.decision(for: "__consumer_offsets"), .skip(.internalTopic))
    }

    func testGroupFilter() {
        let policy = ReplicationPolicy(
            source: "east", target: "west", naming: .identity,
            groups: NameFilter(include: [".*"], exclude: ["console-consumer-.*"]))
        XCTAssertTrue(policy.shouldReplicateGroup("billing"))
        XCTAssertFalse(policy.shouldReplicateGroup("console-consumer-1234"))
    }
}
