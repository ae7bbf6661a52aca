import GroupCoordination
import KafkaProtocol
import XCTest

/// Transcripts of the rebalance protocol against the pure state machine, with a hand-driven clock.
final class GroupStateMachineTests: XCTestCase {
    /// Long enough for the initial rebalance delay, including one extension for newcomers.
    let initialDelay = Int64(testConfig.initialRebalanceDelayMs) * 2

    /// Members join (v9, dynamic unless an instance id is given), the leader assigns each member
    /// its own id's bytes, everyone syncs: a stable group at generation 1.
    func stableGroup(_ clients: [String], instanceIds: [String: String] = [:]) -> (GroupTranscript, [String]) {
        let group = GroupTranscript()
        var joins: [RequestToken] = []
        for client in clients {
            if let instanceId = instanceIds[client] {
                joins.append(group.join(client: client, instanceId: instanceId, metadata: subscription(["orders"])))
            } else {
                joins.append(group.joinNew(client: client, metadata: subscription(["orders"])).token)
            }
        }
        group.advance(byMs: initialDelay)
        let ids = joins.map { group.joined($0)?.memberId ?? "?" }
        XCTAssertEqual(group.state, .completingRebalance)
        for (client, id) in zip(clients, ids).dropFirst() {
            group.sync(memberId: id, generation: 1, instanceId: instanceIds[client])
        }
        group.sync(
            memberId: ids[0], generation: 1, instanceId: instanceIds[clients[0]],
            assignments: Dictionary(uniqueKeysWithValues: ids.map { ($0, Array($0.utf8)) }))
        XCTAssertEqual(group.state, .stable)
        return (group, ids)
    }

    func testThreeMembersJoinTheLeaderSeesSubscriptionsAndSyncDistributesAssignments() throws {
        let group = GroupTranscript()
        let a = group.joinNew(client: "a", metadata: subscription(["orders"]))
        let b = group.joinNew(client: "b", metadata: subscription(["orders", "payments"]))
        let c = group.joinNew(client: "c", metadata: subscription(["payments"]))
        XCTAssertEqual(group.state, .preparingRebalance)
        XCTAssertNil(group.joined(a.token), "JoinGroup waits out the initial rebalance delay")

        group.advance(byMs: initialDelay)
        let leaderView = try XCTUnwrap(group.joined(a.token))
        XCTAssertEqual(leaderView.errorCode, 0)
        XCTAssertEqual(leaderView.generationId, 1)
        XCTAssertEqual(leaderView.leader, a.memberId)
        XCTAssertEqual(leaderView.memberId, a.memberId)
        XCTAssertEqual(leaderView.protocolType, "consumer")
        XCTAssertEqual(leaderView.protocolName, "range")
        XCTAssertEqual(leaderView.members.map(\.memberId), [a.memberId, b.memberId, c.memberId])
        XCTAssertEqual(
            leaderView.members.map(\.metadata),
            [subscription(["orders"]), subscription(["orders", "payments"]), subscription(["payments"])])
        let followerView = try XCTUnwrap(group.joined(b.token))
        XCTAssertEqual(followerView.leader, a.memberId)
        XCTAssertEqual(followerView.generationId, 1)
        XCTAssertEqual(followerView.members, [], "only the leader gets the member list")
        XCTAssertEqual(group.state, .completingRebalance)

        let syncB = group.sync(memberId: b.memberId, generation: 1)
        let syncC = group.sync(memberId: c.memberId, generation: 1)
        XCTAssertNil(group.synced(syncB), "followers wait for the leader's assignment")
        let syncA = group.sync(
            memberId: a.memberId, generation: 1, assignments: [a.memberId: [1], b.memberId: [2], c.memberId: [3]])
        XCTAssertEqual(group.synced(syncA)?.assignment, [1])
        XCTAssertEqual(group.synced(syncB)?.assignment, [2])
        XCTAssertEqual(group.synced(syncC)?.assignment, [3])
        XCTAssertEqual(group.synced(syncC)?.protocolName, "range")
        XCTAssertEqual(group.state, .stable)
        XCTAssertEqual(group.lastGroupRecord?.members.map(\.assignment), [[1], [2], [3]])
        XCTAssertEqual(group.lastGroupRecord?.generationId, 1)

        for _ in 0..<6 {
            group.advance(byMs: 5_000)
            for member in [a, b, c] {
                XCTAssertEqual(group.heartbeat(memberId: member.memberId, generation: 1), KafkaErrorCode.none)
            }
        }
        XCTAssertEqual(group.state, .stable)
        XCTAssertEqual(group.machine.memberIds, [a.memberId, b.memberId, c.memberId])
    }

    func testAMemberThatStopsHeartbeatingIsRemovedAndTheOthersRejoin() throws {
        let (group, ids) = stableGroup(["a", "b", "c"])
        let (a, b, c) = (ids[0], ids[1], ids[2])
        group.advance(byMs: 6_000)
        XCTAssertEqual(group.heartbeat(memberId: a, generation: 1), KafkaErrorCode.none)
        XCTAssertEqual(group.heartbeat(memberId: b, generation: 1), KafkaErrorCode.none)
        group.advance(byMs: 4_000)  // c's session (10 s since its SyncGroup) is over
        XCTAssertEqual(group.state, .preparingRebalance)
        XCTAssertEqual(group.machine.memberIds, [a, b])
        XCTAssertEqual(group.heartbeat(memberId: a, generation: 1), .rebalanceInProgress)
        XCTAssertEqual(group.heartbeat(memberId: c, generation: 1), .unknownMemberId)

        let rejoinA = group.join(client: "a", memberId: a, metadata: subscription(["orders"]))
        XCTAssertNil(group.joined(rejoinA), "waits for b")
        let rejoinB = group.join(client: "b", memberId: b, metadata: subscription(["orders"]))
        XCTAssertEqual(group.joined(rejoinA)?.generationId, 2)
        XCTAssertEqual(group.joined(rejoinA)?.members.map(\.memberId), [a, b])
        XCTAssertEqual(group.joined(rejoinB)?.generationId, 2)
        XCTAssertEqual(group.state, .completingRebalance)
    }

    func testStaleGenerationsAreRefusedWithIllegalGeneration() {
        let (group, ids) = stableGroup(["a", "b"])
        let (a, b) = (ids[0], ids[1])
        _ = group.leave([(b, nil)])
        let rejoin = group.join(client: "a", memberId: a)
        XCTAssertEqual(group.joined(rejoin)?.generationId, 2)

        XCTAssertEqual(group.heartbeat(memberId: a, generation: 1), .illegalGeneration)
        XCTAssertEqual(group.syncError(group.sync(memberId: a, generation: 1)), .illegalGeneration)
        XCTAssertEqual(group.commitCheck(generation: 1, memberId: a), .illegalGeneration)
        XCTAssertEqual(group.heartbeat(memberId: a, generation: 2), KafkaErrorCode.none)
    }

    func testUnknownMembersGetUnknownMemberId() {
        let (group, _) = stableGroup(["a"])
        XCTAssertEqual(group.heartbeat(memberId: "ghost", generation: 1), .unknownMemberId)
        XCTAssertEqual(group.joinError(group.join(client: "ghost", memberId: "ghost")), .unknownMemberId)
        XCTAssertEqual(group.syncError(group.sync(memberId: "ghost", generation: 1)), .unknownMemberId)
        XCTAssertEqual(group.commitCheck(generation: 1, memberId: "ghost"), .unknownMemberId)
        XCTAssertEqual(group.leave([("ghost", nil)])?.members.map(\.errorCode), [KafkaErrorCode.unknownMemberId])
        XCTAssertEqual(group.leave([("ghost", nil)])?.errorCode, 0, "v3+: the error is per member")
        XCTAssertEqual(group.leaveV0(memberId: "ghost")?.errorCode, KafkaErrorCode.unknownMemberId)
        XCTAssertEqual(group.state, .stable, "none of this disturbs the group")
    }

    func testV4JoinWithoutMemberIdGetsMemberIdRequiredThenJoinsWithIt() throws {
        let group = GroupTranscript()
        let first = group.join(client: "a", version: 4)
        let required = try XCTUnwrap(group.joined(first))
        XCTAssertEqual(required.errorCode, KafkaErrorCode.memberIdRequired)
        XCTAssertEqual(required.memberId, "a-1")
        XCTAssertEqual(required.generationId, -1)
        XCTAssertEqual(group.machine.memberIds, [], "not a member until it joins with the id")

        let second = group.join(client: "a", memberId: "a-1", version: 4)
        group.advance(byMs: initialDelay)
        XCTAssertEqual(group.joined(second)?.memberId, "a-1")
        XCTAssertEqual(group.joined(second)?.leader, "a-1")
        XCTAssertEqual(group.joined(second)?.generationId, 1)

        // An id handed out but never used expires with the session timeout.
        let stray = group.join(client: "z", version: 4)
        let strayId = try XCTUnwrap(group.joined(stray)?.memberId)
        group.advance(byMs: 10_000)
        XCTAssertEqual(group.joinError(group.join(client: "z", memberId: strayId, version: 4)), .unknownMemberId)
    }

    func testV3JoinWithoutMemberIdJoinsAtOnce() {
        let group = GroupTranscript()
        let join = group.join(client: "old", version: 3)
        group.advance(byMs: initialDelay)
        XCTAssertEqual(group.joined(join)?.errorCode, 0)
        XCTAssertEqual(group.joined(join)?.memberId, "old-1")
    }

    func testStaticMemberRestartKeepsItsAssignmentWithoutARebalance() throws {
        let (group, ids) = stableGroup(["a", "b"], instanceIds: ["a": "host-a", "b": "host-b"])
        let (a, oldB) = (ids[0], ids[1])
        XCTAssertEqual(group.machine.memberId(forInstanceId: "host-b"), oldB)

        // b's process restarts: no member id, same group.instance.id.
        let rejoin = group.join(client: "b", instanceId: "host-b", metadata: subscription(["orders"]))
        let answer = try XCTUnwrap(group.joined(rejoin), "answered at once, no rebalance")
        XCTAssertEqual(answer.errorCode, 0)
        XCTAssertEqual(answer.generationId, 1)
        XCTAssertEqual(answer.leader, a)
        XCTAssertEqual(answer.members, [])
        let newB = answer.memberId
        XCTAssertNotEqual(newB, oldB)
        XCTAssertEqual(group.state, .stable)

        let sync = group.sync(memberId: newB, generation: 1, instanceId: "host-b")
        XCTAssertEqual(group.synced(sync)?.assignment, Array(oldB.utf8), "the old instance's assignment")
        XCTAssertEqual(group.heartbeat(memberId: oldB, generation: 1, instanceId: "host-b"), .fencedInstanceId)
        XCTAssertEqual(group.heartbeat(memberId: newB, generation: 1, instanceId: "host-b"), KafkaErrorCode.none)
        XCTAssertEqual(group.heartbeat(memberId: a, generation: 1), KafkaErrorCode.none)
        XCTAssertEqual(group.lastGroupRecord?.members.map(\.memberId), [a, newB])
        XCTAssertEqual(group.lastGroupRecord?.members.map(\.groupInstanceId), ["host-a", "host-b"])
    }

    func testAStaleInstanceIsFenced() throws {
        let (group, ids) = stableGroup(["a", "b"], instanceIds: ["a": "host-a", "b": "host-b"])
        let oldB = ids[1]
        let newB = try XCTUnwrap(
            group.joined(group.join(client: "b", instanceId: "host-b", metadata: subscription(["orders"])))?.memberId)
        XCTAssertEqual(
            group.joinError(group.join(client: "b", memberId: oldB, instanceId: "host-b")), .fencedInstanceId)
        XCTAssertEqual(
            group.syncError(group.sync(memberId: oldB, generation: 1, instanceId: "host-b")), .fencedInstanceId)
        XCTAssertEqual(group.commitCheck(generation: 1, memberId: oldB, instanceId: "host-b"), .fencedInstanceId)
        XCTAssertEqual(group.leave([(oldB, "host-b")])?.members.map(\.errorCode), [KafkaErrorCode.fencedInstanceId])
        XCTAssertEqual(group.machine.memberId(forInstanceId: "host-b"), newB)

        // A request parked for the old instance is fenced when the new one takes over.
        XCTAssertEqual(group.heartbeat(memberId: ids[0], generation: 1), KafkaErrorCode.none)
        let parked = group.join(client: "b", memberId: newB, instanceId: "host-b", protocols: ["roundrobin", "range"])
        XCTAssertEqual(group.state, .preparingRebalance)
        let newest = group.join(client: "b", instanceId: "host-b", protocols: ["roundrobin", "range"])
        XCTAssertEqual(group.joinError(parked), .fencedInstanceId)
        XCTAssertNil(group.joined(newest), "joins the rebalance in progress")
    }

    func testStaticLeaderRestartSkipsAssignmentFromV9AndActsAsFollowerBefore() throws {
        let (group, ids) = stableGroup(["a", "b"], instanceIds: ["a": "host-a", "b": "host-b"])
        let v9 = try XCTUnwrap(
            group.joined(group.join(client: "a", instanceId: "host-a", metadata: subscription(["orders"]), version: 9)))
        XCTAssertEqual(v9.leader, v9.memberId, "v9: told it leads...")
        XCTAssertTrue(v9.skipAssignment, "...but must not run the assignor")
        XCTAssertEqual(v9.members.map(\.memberId), [v9.memberId, ids[1]])

        let v8 = try XCTUnwrap(
            group.joined(group.join(client: "a", instanceId: "host-a", metadata: subscription(["orders"]), version: 8)))
        XCTAssertEqual(v8.leader, v9.memberId, "v8: sees the previous leader id, so acts as a follower")
        XCTAssertFalse(v8.skipAssignment)
        XCTAssertEqual(v8.members, [])
        XCTAssertEqual(group.machine.leaderId, v8.memberId)
        XCTAssertEqual(group.state, .stable)
    }

    func testLeavingTriggersARebalanceWithoutTheLeaver() {
        let (group, ids) = stableGroup(["a", "b", "c"], instanceIds: ["c": "host-c"])
        let (a, b) = (ids[0], ids[1])
        let left = group.leave([("", "host-c")])
        XCTAssertEqual(left?.members.map(\.errorCode), [0])
        XCTAssertEqual(group.state, .preparingRebalance)
        XCTAssertEqual(group.heartbeat(memberId: b, generation: 1), .rebalanceInProgress)
        let rejoinA = group.join(client: "a", memberId: a)
        let rejoinB = group.join(client: "b", memberId: b)
        XCTAssertEqual(group.joined(rejoinA)?.members.map(\.memberId), [a, b])
        XCTAssertEqual(group.joined(rejoinB)?.generationId, 2)

        // v0-2: one member, error at the top level.
        XCTAssertEqual(group.leaveV0(memberId: b)?.errorCode, 0)
        XCTAssertEqual(group.machine.memberIds, [a])
    }

    func testTheLastMemberLeavingEmptiesTheGroup() {
        let (group, ids) = stableGroup(["a"])
        _ = group.leave([(ids[0], nil)])
        XCTAssertEqual(group.state, .empty)
        XCTAssertEqual(group.generation, 2)
        XCTAssertEqual(group.lastGroupRecord?.members, [])
        XCTAssertNil(group.lastGroupRecord?.protocolName)
    }

    func testRebalanceTimeoutRemovesMembersThatDoNotRejoin() {
        let (group, ids) = stableGroup(["a", "b", "c"])
        let (a, b, c) = (ids[0], ids[1], ids[2])
        let rejoinA = group.join(client: "a", memberId: a, metadata: subscription(["orders"]))  // leader rejoins: rebalance
        let rejoinB = group.join(client: "b", memberId: b, metadata: subscription(["orders"]))
        for _ in 0..<3 {
            group.advance(byMs: 5_000)
            XCTAssertEqual(
                group.heartbeat(memberId: c, generation: 1), .rebalanceInProgress, "c is alive but never rejoins")
            XCTAssertNil(group.joined(rejoinA))
        }
        group.advance(byMs: 5_000)  // 20 s rebalance timeout
        XCTAssertEqual(group.joined(rejoinA)?.generationId, 2)
        XCTAssertEqual(group.joined(rejoinA)?.members.map(\.memberId), [a, b])
        XCTAssertNotNil(group.joined(rejoinB))
        XCTAssertEqual(group.heartbeat(memberId: c, generation: 1), .unknownMemberId)
    }

    func testALeaderThatNeverSyncsIsRemovedAfterTheRebalanceTimeout() throws {
        let group = GroupTranscript()
        let a = group.joinNew(client: "a")
        let b = group.joinNew(client: "b")
        let c = group.joinNew(client: "c")
        group.advance(byMs: initialDelay)
        XCTAssertEqual(group.joined(a.token)?.leader, a.memberId)
        let syncB = group.sync(memberId: b.memberId, generation: 1)
        let syncC = group.sync(memberId: c.memberId, generation: 1)
        for _ in 0..<3 {
            group.advance(byMs: 5_000)
            XCTAssertEqual(group.heartbeat(memberId: a.memberId, generation: 1), KafkaErrorCode.none)
        }
        XCTAssertNil(group.synced(syncB))
        group.advance(byMs: 5_000)
        XCTAssertEqual(group.syncError(syncB), .rebalanceInProgress)
        XCTAssertEqual(group.syncError(syncC), .rebalanceInProgress)
        XCTAssertEqual(group.machine.memberIds, [b.memberId, c.memberId])
        XCTAssertEqual(group.state, .preparingRebalance)

        let rejoinB = group.join(client: "b", memberId: b.memberId)
        _ = group.join(client: "c", memberId: c.memberId)
        XCTAssertEqual(group.joined(rejoinB)?.leader, b.memberId, "a new leader")
        XCTAssertEqual(group.joined(rejoinB)?.generationId, 2)
    }

    func testProtocolIsOneEveryMemberSupportsChosenByVote() throws {
        let onlyCommon = GroupTranscript()
        let a = onlyCommon.joinNew(client: "a", protocols: ["cooperative-sticky", "range"])
        _ = onlyCommon.joinNew(client: "b", protocols: ["range", "roundrobin"])
        onlyCommon.advance(byMs: initialDelay)
        XCTAssertEqual(onlyCommon.joined(a.token)?.protocolName, "range")
        XCTAssertEqual(
            onlyCommon.joined(a.token)?.members.map(\.metadata), [Array("a:range".utf8), Array("b:range".utf8)],
            "the leader gets each member's metadata for the chosen protocol")

        let majority = GroupTranscript()
        let x = majority.joinNew(client: "x", protocols: ["roundrobin", "range"])
        _ = majority.joinNew(client: "y", protocols: ["range", "roundrobin"])
        _ = majority.joinNew(client: "z", protocols: ["range", "roundrobin"])
        majority.advance(byMs: initialDelay)
        XCTAssertEqual(majority.joined(x.token)?.protocolName, "range")

        let tie = GroupTranscript()
        let leader = tie.joinNew(client: "p", protocols: ["roundrobin", "range"])
        _ = tie.joinNew(client: "q", protocols: ["range", "roundrobin"])
        tie.advance(byMs: initialDelay)
        XCTAssertEqual(tie.joined(leader.token)?.protocolName, "roundrobin", "a tie goes to the leader's preference")

        XCTAssertEqual(
            onlyCommon.joinError(onlyCommon.join(client: "d", protocols: ["sticky"])), .inconsistentGroupProtocol)
        XCTAssertEqual(
            onlyCommon.joinError(onlyCommon.join(client: "e", protocols: ["range"], protocolType: "connect")),
            .inconsistentGroupProtocol)
        let empty = GroupTranscript()
        XCTAssertEqual(empty.joinError(empty.join(client: "f", protocols: [])), .inconsistentGroupProtocol)
        XCTAssertEqual(empty.joinError(empty.join(client: "f", protocolType: "")), .inconsistentGroupProtocol)
    }

    func testSessionTimeoutOutsideTheConfiguredBoundsIsRefused() {
        let group = GroupTranscript()
        XCTAssertEqual(group.joinError(group.join(client: "a", sessionTimeoutMs: 999)), .invalidSessionTimeout)
        XCTAssertEqual(group.joinError(group.join(client: "a", sessionTimeoutMs: 60_001)), .invalidSessionTimeout)
    }

    func testAFullGroupRefusesNewMembers() {
        var config = testConfig
        config.maxGroupSize = 2
        let group = GroupTranscript(config: config)
        _ = group.joinNew(client: "a")
        _ = group.joinNew(client: "b")
        XCTAssertEqual(group.joinError(group.join(client: "c")), .groupMaxSizeReached)
    }

    func testSyncWithAnotherProtocolIsInconsistent() {
        let (group, ids) = stableGroup(["a"])
        XCTAssertEqual(
            group.syncError(group.sync(memberId: ids[0], generation: 1, protocolName: "roundrobin")),
            .inconsistentGroupProtocol)
        XCTAssertEqual(
            group.syncError(group.sync(memberId: ids[0], generation: 1, protocolType: "connect")),
            .inconsistentGroupProtocol)
        XCTAssertEqual(
            group.syncError(
                group.sync(memberId: ids[0], generation: 1, protocolType: "consumer", protocolName: "range")),
            KafkaErrorCode.none)
        XCTAssertEqual(
            group.syncError(group.sync(memberId: ids[0], generation: 1, protocolName: "roundrobin", version: 4)),
            KafkaErrorCode.none,
            "before v5 there is nothing to check")
    }

    func testInitialRebalanceDelayIsExtendedForNewcomersUpToTheRebalanceTimeout() {
        let group = GroupTranscript()
        let a = group.join(client: "a", version: 3)
        group.advance(byMs: 80)
        let b = group.join(client: "b", version: 3)
        group.advance(byMs: 20)
        XCTAssertNil(group.joined(a), "b arrived during the delay: wait another delay")
        group.advance(byMs: 100)
        XCTAssertEqual(group.joined(a)?.members.count, 2)
        XCTAssertEqual(group.joined(b)?.generationId, 1)

        let capped = GroupTranscript()
        let first = capped.join(client: "a", version: 3, rebalanceTimeoutMs: 150)
        capped.advance(byMs: 50)
        capped.join(client: "b", version: 3, rebalanceTimeoutMs: 150)
        capped.advance(byMs: 50)
        capped.join(client: "c", version: 3, rebalanceTimeoutMs: 150)
        capped.advance(byMs: 40)
        capped.join(client: "d", version: 3, rebalanceTimeoutMs: 150)
        XCTAssertNil(capped.joined(first))
        capped.advance(byMs: 10)  // 150 ms: the rebalance timeout
        XCTAssertEqual(
            capped.joined(first)?.members.count, 4, "newcomers cannot stall the group beyond the rebalance timeout")
    }

    func testOffsetCommitChecksFollowTheGroupState() {
        let group = GroupTranscript()
        XCTAssertEqual(
            group.commitCheck(generation: -1, memberId: ""), KafkaErrorCode.none, "simple commit to an empty group")
        let a = group.joinNew(client: "a")
        let b = group.joinNew(client: "b")
        group.advance(byMs: initialDelay)
        XCTAssertEqual(
            group.commitCheck(generation: 1, memberId: a.memberId), .rebalanceInProgress, "no assignment yet")
        group.sync(memberId: b.memberId, generation: 1)
        group.sync(memberId: a.memberId, generation: 1, assignments: [a.memberId: [1], b.memberId: [2]])
        XCTAssertEqual(group.commitCheck(generation: 1, memberId: a.memberId), KafkaErrorCode.none)
        XCTAssertEqual(
            group.commitCheck(generation: -1, memberId: ""), .unknownMemberId, "only members commit to a live group")
        _ = group.join(client: "a", memberId: a.memberId)  // the leader rejoins: a rebalance starts
        XCTAssertEqual(group.state, .preparingRebalance)
        XCTAssertEqual(
            group.commitCheck(generation: 1, memberId: b.memberId), KafkaErrorCode.none,
            "the old generation may still commit while revoking partitions")
    }

    func testDescribeShowsMetadataAndAssignmentsOnlyWhenStable() {
        let group = GroupTranscript()
        let a = group.joinNew(client: "a", metadata: subscription(["orders"]))
        group.advance(byMs: initialDelay)
        let completing = group.machine.describe(includeAuthorizedOperations: false)
        XCTAssertEqual(completing.groupState, "CompletingRebalance")
        XCTAssertEqual(completing.protocolData, "")
        XCTAssertEqual(completing.members.map(\.memberMetadata), [[]])
        XCTAssertEqual(completing.authorizedOperations, Int32.min)

        group.sync(memberId: a.memberId, generation: 1, assignments: [a.memberId: [9]])
        let stable = group.machine.describe(includeAuthorizedOperations: true)
        XCTAssertEqual(stable.groupState, "Stable")
        XCTAssertEqual(stable.protocolType, "consumer")
        XCTAssertEqual(stable.protocolData, "range")
        XCTAssertEqual(stable.members.map(\.memberId), [a.memberId])
        XCTAssertEqual(stable.members.map(\.clientId), ["a"])
        XCTAssertEqual(stable.members.map(\.clientHost), ["/10.0.0.1"])
        XCTAssertEqual(stable.members.map(\.memberMetadata), [subscription(["orders"])])
        XCTAssertEqual(stable.members.map(\.memberAssignment), [[9]])
        XCTAssertNotEqual(stable.authorizedOperations, Int32.min)
    }

    func testJoinGroupV0UsesTheSessionTimeoutAsRebalanceTimeout() throws {
        let group = GroupTranscript()
        // v0 has no rebalance timeout on the wire: the 20 s below must be ignored.
        let a = group.join(client: "a", version: 0, sessionTimeoutMs: 5_000, rebalanceTimeoutMs: 20_000)
        let b = group.join(client: "b", version: 0, sessionTimeoutMs: 5_000, rebalanceTimeoutMs: 20_000)
        group.advance(byMs: initialDelay)
        let (idA, idB) = (try XCTUnwrap(group.joined(a)?.memberId), try XCTUnwrap(group.joined(b)?.memberId))
        group.sync(memberId: idB, generation: 1, version: 0)
        group.sync(memberId: idA, generation: 1, assignments: [idA: [1], idB: [2]], version: 0)

        let rejoin = group.join(client: "a", memberId: idA, version: 0, sessionTimeoutMs: 5_000)
        group.advance(byMs: 2_500)
        XCTAssertEqual(group.heartbeat(memberId: idB, generation: 1, version: 0), .rebalanceInProgress)
        XCTAssertNil(group.joined(rejoin))
        group.advance(byMs: 2_500)
        XCTAssertEqual(group.joined(rejoin)?.generationId, 2, "the join phase ended after 5 s, not 20 s")
        XCTAssertEqual(group.joined(rejoin)?.members.map(\.memberId), [idA])
    }

    func testAnUnusedMemberIdHoldsTheJoinPhaseUntilItLeaves() throws {
        let (group, ids) = stableGroup(["a", "b"])
        let rejoinA = group.join(client: "a", memberId: ids[0], metadata: subscription(["orders"]))
        let newcomer = group.join(client: "c")
        let pendingId = try XCTUnwrap(group.joined(newcomer)?.memberId)
        XCTAssertEqual(group.joinError(newcomer), .memberIdRequired)
        _ = group.join(client: "b", memberId: ids[1], metadata: subscription(["orders"]))
        XCTAssertNil(group.joined(rejoinA), "c was given an id and may still join")
        XCTAssertEqual(group.leave([(pendingId, nil)])?.members.map(\.errorCode), [0])
        XCTAssertEqual(group.joined(rejoinA)?.generationId, 2)
        XCTAssertEqual(group.joined(rejoinA)?.members.map(\.memberId), ids)
    }
}
