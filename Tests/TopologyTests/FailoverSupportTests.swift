import XCTest
@testable import Topology

/// Which links may preserve offsets with identity naming, and what `topology check` says a
/// failover of each link asks of clients.
final class FailoverSupportTests: XCTestCase {
    static let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "../../topologies"
    ).standardizedFileURL

    func testAOneWayIdentityLinkMayPreserveOffsets() throws {
        let topology = try TopologyLoader.parse(
            """
            name: dr
            mode: active-passive
            \(BrokenTopologyTests.sites)
            links:
              - { from: east, to: west, naming: identity, offsets: preserve }
            """, file: "dr.yaml")
        let link = topology.links[0]
        XCTAssertFalse(link.hasReverseLink)
        XCTAssertTrue(link.mayPreserveOffsets)
        XCTAssertEqual(link.remoteTopic(for: "orders"), "orders")
        XCTAssertEqual(topology.expectedOffsets(of: link), .preserve)
    }

    func testAutoWithIdentityNamingPreservesOneWayAndTranslatesBothWays() throws {
        let oneWay = try TopologyLoader.parse(
            "name: t\n\(BrokenTopologyTests.sites)\nlinks:\n  - { from: east, to: west, naming: identity }\n",
            file: "t.yaml")
        XCTAssertEqual(oneWay.expectedOffsets(of: oneWay.links[0]), .preserve)

        let bothWays = try TopologyLoader.parse(
            """
            name: t
            mode: active-active
            \(BrokenTopologyTests.sites)
            links:
              - { from: east, to: west, naming: identity, provenance-header: true }
              - { from: west, to: east, naming: identity, provenance-header: true }
            """, file: "t.yaml")
        XCTAssertEqual(bothWays.links.map(\.hasReverseLink), [true, true])
        XCTAssertEqual(bothWays.links.map(\.mayPreserveOffsets), [false, false])
        XCTAssertEqual(bothWays.expectedOffsets(of: bothWays.links[0]), .translate)
        XCTAssertEqual(
            bothWays.offsetsAndNaming(of: bothWays.links[0]),
            "offsets auto (translate: identity naming with a reverse link), naming identity")

        let prefixedBothWays = try TopologyLoader.load(
            file: Self.shipped.appendingPathComponent("active-active.yaml").path)
        XCTAssertEqual(prefixedBothWays.links.map(\.hasReverseLink), [true, true])
        XCTAssertEqual(prefixedBothWays.links.map(\.mayPreserveOffsets), [true, true], "prefix naming may always")
    }

    func testTheShippedDisasterRecoveryTopology() throws {
        let topology = try TopologyLoader.load(file: Self.shipped.appendingPathComponent("disaster-recovery.yaml").path)
        XCTAssertEqual(topology.mode, .activePassive)
        XCTAssertEqual(topology.statusAddress, Topology.StatusAddress(host: "127.0.0.1", port: 9465))
        let link = try XCTUnwrap(topology.links.first)
        XCTAssertEqual([link.source, link.target], ["primary", "standby"])
        XCTAssertEqual(link.naming, .identity)
        XCTAssertEqual(link.offsets, .preserve)
        XCTAssertFalse(link.hasReverseLink)
        XCTAssertEqual(topology.offsetsAndNaming(of: link), "offsets preserve, naming identity")
        XCTAssertEqual(
            topology.failoverSupport(of: link),
            [
                "failover to standby: clients change only their bootstrap servers: topic names and offsets are the same at standby, committed offsets carry over unchanged",
                "unplanned: a consumer may re-read what it consumed in the last checkpoint interval (1000 ms)"
            ])
        guard case let .embedded(standby)? = topology.site(named: "standby")?.kind else {
            return XCTFail("embedded standby expected")
        }
        XCTAssertFalse(standby.config.autoCreateTopics, "nothing but the link creates the standby's topics")
    }

    func testPrefixedLinksIntoStraitAndIntoAnUnknownCluster() throws {
        let activePassive = try TopologyLoader.load(
            file: Self.shipped.appendingPathComponent("active-passive.yaml").path)
        let link = activePassive.links[0]
        XCTAssertEqual(
            activePassive.offsetsAndNaming(of: link),
            "offsets auto (preserve: west offers Strait's mirror API), naming prefix \".\"")
        XCTAssertEqual(
            activePassive.failoverSupport(of: link),
            [
                "failover to west: consumers move to east.<topic> at the same offsets (their committed offsets carry over unchanged); producers must be reconfigured to write east.<topic>",
                "unplanned: a consumer may re-read what it consumed in the last checkpoint interval (10000 ms)"
            ])

        let external = try TopologyLoader.load(file: Self.shipped.appendingPathComponent("external-pair.yaml").path)
        XCTAssertEqual(external.expectedOffsets(of: external.links[0]), .preserveIfTargetOffersMirrorAPI)
        XCTAssertEqual(
            external.failoverSupport(of: external.links[0]),
            [
                "failover to standby, if it offers Strait's mirror API (preserve): consumers move to primary.<topic> at the same offsets (their committed offsets carry over unchanged); producers must be reconfigured to write primary.<topic>",
                "failover to standby, otherwise (translate): consumers move to primary.<topic>, group offsets translated through checkpoints; producers must be reconfigured to write primary.<topic>",
                "unplanned: a consumer may re-read what it consumed in the last checkpoint interval (10000 ms)"
            ])
    }

    func testATargetWithoutTheMirrorAPITranslates() throws {
        let topology = try TopologyLoader.parse(
            """
            name: t
            sites:
              east: { broker: { listen: 127.0.0.1:1, data-dir: a } }
              west: { broker: { listen: 127.0.0.1:2, data-dir: b, settings: { mirror-api: false } } }
            links:
              - { from: east, to: west, naming: identity }
            """, file: "t.yaml")
        let link = topology.links[0]
        XCTAssertEqual(topology.expectedOffsets(of: link), .translate)
        XCTAssertEqual(
            topology.failoverSupport(of: link)[0],
            "failover to west: clients change their bootstrap servers; topic names are the same at west but offsets are not: group offsets are translated through checkpoints"
        )
    }
}
