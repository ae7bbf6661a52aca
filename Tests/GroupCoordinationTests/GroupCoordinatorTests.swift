import Foundation
import GroupCoordination
import KafkaProtocol
import XCTest

/// A clock the test moves by hand.
final class FakeClock: @unchecked Sendable {
    private let lock = NSLock()
    private var milliseconds: Int64 = 1_000_000

    var now: Int64 { lock.withLock { milliseconds } }

    func advance(byMs delta: Int64) {
        lock.withLock { milliseconds += delta }
    }
}

struct StoreFailure: Error {}

/// Member ids `<client>-id`, then `<client>-id2`, `<client>-id3`... for the same client.
final class MemberIds: @unchecked Sendable {
    private let lock = NSLock()
    private var handedOut: [String: Int] = [:]

    func make(clientId: String) -> String {
        lock.withLock {
            handedOut[clientId, default: 0] += 1
            let count = handedOut[clientId]!
            return count == 1 ? "\(clientId)-id" : "\(clientId)-id\(count)"
        }
    }
}

/// Transcripts through the async `GroupCoordinator`: parked JoinGroup/SyncGroup on continuations,
/// offsets, admin APIs, persistence and replay.
final class GroupCoordinatorTests: XCTestCase {
    let clock = FakeClock()
    let store = InMemoryGroupStore()
    /// Topics "orders" (3 partitions) and "payments" (1 partition) exist.
    static let topics: [String: Int32] = ["orders": 3, "payments": 1]

    func makeCoordinator(
        store: InMemoryGroupStore? = nil, config: GroupCoordinatorConfig = testConfig, start: Bool = true
    ) throws -> GroupCoordinator {
        let clock = self.clock
        let memberIds = MemberIds()
        let coordinator = GroupCoordinator(
            config: config, store: store ?? self.store, now: { clock.now },
            topicPartitionExists: { topic, partition in (0..<(Self.topics[topic] ?? 0)).contains(partition) },
            makeMemberId: { memberIds.make(clientId: $0) })
        if start { try coordinator.start() }
        return coordinator
    }

    func joinRequest(_ group: String, memberId: String = "", instanceId: String? = nil, topics: [String] = ["orders"])
        -> JoinGroupRequest
    {
        JoinGroupRequest(
            groupId: group, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 20_000, memberId: memberId,
            groupInstanceId: instanceId, protocolType: "consumer",
            protocols: [.init(name: "range", metadata: subscription(topics))])
    }

    /// Waits (bounded in wall time, without sleeping) until the coordinator has `count` parked requests.
    func waitForParked(_ coordinator: GroupCoordinator, count: Int, file: StaticString = #filePath, line: UInt = #line)
        async
    {
        let deadline = ContinuousClock.now + .seconds(10)
        while coordinator.parkedRequestCount != count {
            if ContinuousClock.now > deadline {
                XCTFail(
                    "expected \(count) parked requests, have \(coordinator.parkedRequestCount)", file: file, line: line)
                return
            }
            await Task.yield()
        }
    }

    /// Members join (v9 flow with MEMBER_ID_REQUIRED), the leader assigns, everyone syncs.
    /// Returns the member ids; the group is stable at generation 1.
    func formStableGroup(_ coordinator: GroupCoordinator, _ group: String, clients: [String]) async throws -> [String] {
        var ids: [String] = []
        for client in clients {
            let first = await coordinator.handle(
                joinRequest(group), version: 9, client: ClientInfo(clientId: client, clientHost: "/127.0.0.1"))
            XCTAssertEqual(first.errorCode, KafkaErrorCode.memberIdRequired)
            ids.append(first.memberId)
        }
        // One at a time, so the join order (and so the leader) is deterministic.
        var joins: [Task<JoinGroupResponse, Never>] = []
        for (client, id) in zip(clients, ids) {
            let request = joinRequest(group, memberId: id)
            joins.append(
                Task {
                    await coordinator.handle(
                        request, version: 9, client: ClientInfo(clientId: client, clientHost: "/127.0.0.1"))
                })
            await waitForParked(coordinator, count: joins.count)
        }
        clock.advance(byMs: 200)
        coordinator.tick()
        var answers: [JoinGroupResponse] = []
        for join in joins { answers.append(await join.value) }
        XCTAssertEqual(answers.map(\.generationId), Array(repeating: 1, count: clients.count))
        XCTAssertEqual(answers[0].members.map(\.memberId), ids)

        let followerSyncs = ids.dropFirst().map { id in
            Task {
                await coordinator.handle(SyncGroupRequest(groupId: group, generationId: 1, memberId: id), version: 5)
            }
        }
        await waitForParked(coordinator, count: followerSyncs.count)
        let leaderSync = await coordinator.handle(
            SyncGroupRequest(
                groupId: group, generationId: 1, memberId: ids[0],
                assignments: ids.map { .init(memberId: $0, assignment: Array($0.utf8)) }), version: 5)
        XCTAssertEqual(leaderSync.assignment, Array(ids[0].utf8))
        for (sync, id) in zip(followerSyncs, ids.dropFirst()) {
            let answer = await sync.value
            XCTAssertEqual(answer.assignment, Array(id.utf8))
        }
        return ids
    }

    func commit(
        _ coordinator: GroupCoordinator, _ group: String, generation: Int32 = -1, memberId: String = "",
        _ partitions: [(String, Int32, Int64, String?, Int32)], version: Int16 = 8
    ) -> [KafkaErrorCode] {
        let byTopic = Dictionary(grouping: partitions, by: \.0)
        let request = OffsetCommitRequest(
            groupId: group, generationIdOrMemberEpoch: generation, memberId: memberId,
            topics: byTopic.keys.sorted().map { topic in
                .init(
                    name: topic,
                    partitions: byTopic[topic]!.map {
                        .init(
                            partitionIndex: $0.1, committedOffset: $0.2, committedLeaderEpoch: $0.4,
                            committedMetadata: $0.3)
                    })
            })
        return coordinator.handle(request, version: version).topics.flatMap { $0.partitions.map(\.errorCode) }
    }

    func fetch(
        _ coordinator: GroupCoordinator, _ group: String, _ topic: String, _ partitions: [Int32], version: Int16 = 7
    )
        -> [OffsetFetchResponse.OffsetFetchResponsePartition]
    {
        let response = coordinator.handle(
            OffsetFetchRequest(groupId: group, topics: [.init(name: topic, partitionIndexes: partitions)]),
            version: version)
        return response.topics.first?.partitions ?? []
    }

    // MARK: - Transcripts

    func testThreeMembersJoinSyncAndHeartbeatThroughTheCoordinator() async throws {
        let coordinator = try makeCoordinator()
        let ids = try await formStableGroup(coordinator, "orders-app", clients: ["a", "b", "c"])
        XCTAssertEqual(ids, ["a-id", "b-id", "c-id"])
        for _ in 0..<4 {
            clock.advance(byMs: 5_000)
            coordinator.tick()
            for id in ids {
                XCTAssertEqual(
                    coordinator.handle(
                        HeartbeatRequest(groupId: "orders-app", generationId: 1, memberId: id), version: 4
                    ).errorCode, 0)
            }
        }
        XCTAssertEqual(coordinator.group("orders-app")?.state, .stable)

        // c stops heartbeating: after its session timeout the others are told to rejoin.
        clock.advance(byMs: 6_000)
        coordinator.tick()
        XCTAssertEqual(
            coordinator.handle(HeartbeatRequest(groupId: "orders-app", generationId: 1, memberId: "a-id"), version: 4)
                .errorCode, 0)
        XCTAssertEqual(
            coordinator.handle(HeartbeatRequest(groupId: "orders-app", generationId: 1, memberId: "b-id"), version: 4)
                .errorCode, 0)
        clock.advance(byMs: 4_000)
        coordinator.tick()
        XCTAssertEqual(
            coordinator.handle(HeartbeatRequest(groupId: "orders-app", generationId: 1, memberId: "a-id"), version: 4)
                .errorCode,
            KafkaErrorCode.rebalanceInProgress)
        XCTAssertEqual(
            coordinator.handle(HeartbeatRequest(groupId: "orders-app", generationId: 1, memberId: "c-id"), version: 4)
                .errorCode,
            KafkaErrorCode.unknownMemberId)
        let rejoinRequest = joinRequest("orders-app", memberId: "a-id")
        let rejoinA = Task {
            await coordinator.handle(rejoinRequest, version: 9, client: ClientInfo(clientId: "a", clientHost: "h"))
        }
        await waitForParked(coordinator, count: 1)
        let rejoinB = await coordinator.handle(
            joinRequest("orders-app", memberId: "b-id"), version: 9, client: ClientInfo(clientId: "b", clientHost: "h"))
        let leaderView = await rejoinA.value
        XCTAssertEqual(leaderView.generationId, 2)
        XCTAssertEqual(leaderView.members.map(\.memberId), ["a-id", "b-id"])
        XCTAssertEqual(rejoinB.generationId, 2)
    }

    func testCommitsAndFetchesCarryMetadataAndLeaderEpochs() throws {
        let coordinator = try makeCoordinator()
        XCTAssertEqual(
            commit(coordinator, "simple", [("orders", 0, 42, "checkpoint-1", 7), ("orders", 1, 5, nil, -1)]), [0, 0])

        let fetched = fetch(coordinator, "simple", "orders", [0, 1, 2])
        XCTAssertEqual(fetched.map(\.committedOffset), [42, 5, -1])
        XCTAssertEqual(fetched.map(\.committedLeaderEpoch), [7, -1, -1])
        XCTAssertEqual(fetched.map(\.metadata), ["checkpoint-1", "", ""])
        XCTAssertEqual(fetched.map(\.errorCode), [0, 0, 0])

        // v8+: several groups at once; a null topic list means every committed partition.
        let multi = coordinator.handle(
            OffsetFetchRequest(groups: [
                .init(groupId: "simple", topics: nil),
                .init(groupId: "nobody", topics: [.init(name: "orders", partitionIndexes: [0])])
            ]), version: 8)
        XCTAssertEqual(multi.groups.map(\.groupId), ["simple", "nobody"])
        XCTAssertEqual(multi.groups[0].topics.flatMap { $0.partitions.map(\.partitionIndex) }, [0, 1])
        XCTAssertEqual(multi.groups[0].topics.flatMap { $0.partitions.map(\.committedOffset) }, [42, 5])
        XCTAssertEqual(multi.groups[1].topics.flatMap { $0.partitions.map(\.committedOffset) }, [-1])

        // A later commit replaces the earlier one; before v6 there is no leader epoch.
        XCTAssertEqual(commit(coordinator, "simple", [("orders", 0, 50, "checkpoint-2", 9)], version: 5), [0])
        XCTAssertEqual(fetch(coordinator, "simple", "orders", [0]).map(\.committedOffset), [50])
        XCTAssertEqual(fetch(coordinator, "simple", "orders", [0]).map(\.committedLeaderEpoch), [-1])
        XCTAssertEqual(fetch(coordinator, "simple", "orders", [0]).map(\.metadata), ["checkpoint-2"])
    }

    func testBadCommitsGetTheirErrorCodes() async throws {
        let coordinator = try makeCoordinator()
        XCTAssertEqual(
            commit(coordinator, "simple", [("ghost-topic", 0, 1, nil, -1), ("orders", 9, 1, nil, -1)]),
            [KafkaErrorCode.unknownTopicOrPartition, KafkaErrorCode.unknownTopicOrPartition])
        XCTAssertEqual(
            commit(
                coordinator, "simple",
                [("orders", 0, 1, String(repeating: "x", count: 17), -1), ("orders", 1, 1, "ok", -1)]),
            [KafkaErrorCode.offsetMetadataTooLarge, 0])
        XCTAssertEqual(
            commit(coordinator, "never-joined", generation: 3, memberId: "m", [("orders", 0, 1, nil, -1)]),
            [KafkaErrorCode.illegalGeneration])

        let ids = try await formStableGroup(coordinator, "app", clients: ["a", "b"])
        XCTAssertEqual(commit(coordinator, "app", generation: 1, memberId: ids[0], [("orders", 0, 10, nil, 3)]), [0])
        XCTAssertEqual(
            commit(coordinator, "app", generation: 0, memberId: ids[0], [("orders", 0, 11, nil, 3)]),
            [KafkaErrorCode.illegalGeneration])
        XCTAssertEqual(
            commit(coordinator, "app", generation: 1, memberId: "stranger", [("orders", 0, 11, nil, 3)]),
            [KafkaErrorCode.unknownMemberId])
        XCTAssertEqual(
            commit(coordinator, "app", [("orders", 0, 11, nil, 3)]), [KafkaErrorCode.unknownMemberId],
            "a simple commit cannot write a live group's offsets")
        XCTAssertEqual(
            commit(coordinator, "app", generation: 0, memberId: ids[0], [("nope", 0, 1, nil, -1)]),
            [KafkaErrorCode.unknownTopicOrPartition], "unknown partitions are reported first")
        XCTAssertEqual(fetch(coordinator, "app", "orders", [0]).map(\.committedOffset), [10])
    }

    func testOffsetsAndGroupsSurviveACoordinatorRestart() async throws {
        let first = try makeCoordinator()
        let ids = try await formStableGroup(first, "app", clients: ["a", "b"])
        XCTAssertEqual(commit(first, "app", generation: 1, memberId: ids[1], [("orders", 2, 1234, "meta", 4)]), [0])
        XCTAssertEqual(commit(first, "simple", [("payments", 0, 77, nil, -1)]), [0])
        XCTAssertEqual(commit(first, "simple", [("payments", 0, 78, nil, -1)]), [0])
        first.shutdown()

        for records in [store.records, store.compacted] {
            let second = try makeCoordinator(store: InMemoryGroupStore(records: records))
            let described = second.handle(DescribeGroupsRequest(groups: ["app"]), version: 5).groups[0]
            XCTAssertEqual(described.groupState, "Stable")
            XCTAssertEqual(described.protocolData, "range")
            XCTAssertEqual(described.members.map(\.memberId), ids)
            XCTAssertEqual(described.members.map(\.memberAssignment), ids.map { Array($0.utf8) })
            XCTAssertEqual(
                described.members.map(\.memberMetadata), [subscription(["orders"]), subscription(["orders"])])
            XCTAssertEqual(fetch(second, "app", "orders", [2]).map(\.committedOffset), [1234])
            XCTAssertEqual(fetch(second, "app", "orders", [2]).map(\.committedLeaderEpoch), [4])
            XCTAssertEqual(fetch(second, "app", "orders", [2]).map(\.metadata), ["meta"])
            XCTAssertEqual(fetch(second, "simple", "payments", [0]).map(\.committedOffset), [78])
            // Members carry on with their generation after the restart.
            XCTAssertEqual(
                second.handle(HeartbeatRequest(groupId: "app", generationId: 1, memberId: ids[0]), version: 4)
                    .errorCode, 0)
            let sync = await second.handle(
                SyncGroupRequest(groupId: "app", generationId: 1, memberId: ids[1]), version: 5)
            XCTAssertEqual(sync.assignment, Array(ids[1].utf8))
        }
        XCTAssertLessThan(store.compacted.count, store.records.count, "the two commits to payments-0 share a key")
    }

    func testDeleteGroupsIsRefusedWhileMembersRemainAndDropsOffsetsAfter() async throws {
        let coordinator = try makeCoordinator()
        let ids = try await formStableGroup(coordinator, "app", clients: ["a"])
        XCTAssertEqual(commit(coordinator, "app", generation: 1, memberId: ids[0], [("orders", 0, 9, nil, -1)]), [0])
        let refused = coordinator.handle(DeleteGroupsRequest(groupsNames: ["app", "unknown"]), version: 2)
        XCTAssertEqual(refused.results.map(\.errorCode), [KafkaErrorCode.nonEmptyGroup, KafkaErrorCode.groupIdNotFound])

        XCTAssertEqual(
            coordinator.handle(LeaveGroupRequest(groupId: "app", members: [.init(memberId: ids[0])]), version: 3)
                .errorCode, 0)
        XCTAssertEqual(coordinator.group("app")?.state, .empty)
        XCTAssertEqual(
            coordinator.handle(DeleteGroupsRequest(groupsNames: ["app"]), version: 2).results.map(\.errorCode), [0])
        XCTAssertEqual(fetch(coordinator, "app", "orders", [0]).map(\.committedOffset), [-1])
        XCTAssertEqual(
            coordinator.handle(DescribeGroupsRequest(groups: ["app"]), version: 5).groups[0].groupState, "Dead")
        XCTAssertEqual(
            store.compacted.filter { $0.key.groupId == "app" },
            [.offsetTombstone(groupId: "app", topic: "orders", partition: 0), .groupTombstone(groupId: "app")])

        let restarted = try makeCoordinator(store: InMemoryGroupStore(records: store.records))
        XCTAssertEqual(restarted.handle(ListGroupsRequest(), version: 4).groups, [])
    }

    func testOffsetDelete() async throws {
        let coordinator = try makeCoordinator()
        func delete(_ group: String, _ partitions: [(String, Int32)]) -> OffsetDeleteResponse {
            coordinator.handle(
                OffsetDeleteRequest(
                    groupId: group,
                    topics: Dictionary(grouping: partitions, by: \.0).sorted { $0.key < $1.key }.map {
                        .init(name: $0.key, partitions: $0.value.map { .init(partitionIndex: $0.1) })
                    }), version: 0)
        }
        XCTAssertEqual(commit(coordinator, "simple", [("orders", 0, 1, nil, -1), ("orders", 1, 2, nil, -1)]), [0, 0])
        let deleted = delete("simple", [("orders", 0), ("ghost", 0)])
        XCTAssertEqual(deleted.errorCode, 0)
        XCTAssertEqual(
            deleted.topics.flatMap { $0.partitions.map(\.errorCode) }, [KafkaErrorCode.unknownTopicOrPartition, 0])
        XCTAssertEqual(fetch(coordinator, "simple", "orders", [0, 1]).map(\.committedOffset), [-1, 2])
        XCTAssertEqual(delete("nobody", [("orders", 0)]).errorCode, KafkaErrorCode.groupIdNotFound)

        // A live consumer group keeps offsets of topics it subscribes to.
        let ids = try await formStableGroup(coordinator, "app", clients: ["a"])
        XCTAssertEqual(
            commit(
                coordinator, "app", generation: 1, memberId: ids[0],
                [("orders", 0, 5, nil, -1), ("payments", 0, 6, nil, -1)]), [0, 0])
        let live = delete("app", [("orders", 0), ("payments", 0)])
        XCTAssertEqual(
            live.topics.flatMap { $0.partitions.map(\.errorCode) }, [KafkaErrorCode.groupSubscribedToTopic, 0])
        XCTAssertEqual(fetch(coordinator, "app", "payments", [0]).map(\.committedOffset), [-1])
        XCTAssertEqual(fetch(coordinator, "app", "orders", [0]).map(\.committedOffset), [5])
    }

    func testOffsetDeleteOnANonConsumerGroupWithMembersIsRefused() async throws {
        let coordinator = try makeCoordinator()
        var request = joinRequest("connect-cluster")
        request.protocolType = "connect"
        let parked = Task { [request] in
            await coordinator.handle(request, version: 3, client: ClientInfo(clientId: "w", clientHost: "h"))
        }
        await waitForParked(coordinator, count: 1)
        XCTAssertEqual(coordinator.group("connect-cluster")?.state, .preparingRebalance)
        let response = coordinator.handle(
            OffsetDeleteRequest(
                groupId: "connect-cluster", topics: [.init(name: "orders", partitions: [.init(partitionIndex: 0)])]),
            version: 0)
        XCTAssertEqual(response.errorCode, KafkaErrorCode.nonEmptyGroup)
        coordinator.shutdown()
        let released = await parked.value
        XCTAssertEqual(released.errorCode, KafkaErrorCode.notCoordinator)
    }

    func testListAndDescribeGroupsShowStatesAndMembers() async throws {
        let coordinator = try makeCoordinator()
        _ = try await formStableGroup(coordinator, "stable-app", clients: ["a", "b"])
        XCTAssertEqual(commit(coordinator, "offsets-only", [("orders", 0, 1, nil, -1)]), [0])
        let all = coordinator.handle(ListGroupsRequest(), version: 5)
        XCTAssertEqual(all.groups.map(\.groupId), ["offsets-only", "stable-app"])
        XCTAssertEqual(all.groups.map(\.groupState), ["Empty", "Stable"])
        XCTAssertEqual(all.groups.map(\.protocolType), ["", "consumer"])
        XCTAssertEqual(all.groups.map(\.groupType), ["classic", "classic"])
        XCTAssertEqual(
            coordinator.handle(ListGroupsRequest(statesFilter: ["stable"]), version: 4).groups.map(\.groupId),
            ["stable-app"])
        XCTAssertEqual(
            coordinator.handle(ListGroupsRequest(statesFilter: ["stable"]), version: 3).groups.count, 2,
            "no filter before v4")
        XCTAssertEqual(coordinator.handle(ListGroupsRequest(typesFilter: ["consumer"]), version: 5).groups, [])
        XCTAssertEqual(coordinator.handle(ListGroupsRequest(typesFilter: ["Classic"]), version: 5).groups.count, 2)

        let described = coordinator.handle(
            DescribeGroupsRequest(groups: ["stable-app", "offsets-only", "missing"]), version: 5)
        XCTAssertEqual(described.groups.map(\.groupState), ["Stable", "Empty", "Dead"])
        XCTAssertEqual(described.groups.map(\.errorCode), [0, 0, 0])
        XCTAssertEqual(described.groups[0].members.map(\.clientId), ["a", "b"])
        XCTAssertEqual(described.groups[0].members.map(\.clientHost), ["/127.0.0.1", "/127.0.0.1"])
    }

    func testStaticMembershipThroughTheCoordinator() async throws {
        let coordinator = try makeCoordinator()
        let request = joinRequest("app", instanceId: "host-1")
        let join = Task {
            await coordinator.handle(request, version: 5, client: ClientInfo(clientId: "s", clientHost: "h"))
        }
        await waitForParked(coordinator, count: 1)
        clock.advance(byMs: 200)
        coordinator.tick()
        let first = await join.value
        _ = await coordinator.handle(
            SyncGroupRequest(
                groupId: "app", generationId: 1, memberId: first.memberId, groupInstanceId: "host-1",
                assignments: [.init(memberId: first.memberId, assignment: [1, 2, 3])]), version: 5)
        let restarted = await coordinator.handle(
            joinRequest("app", instanceId: "host-1"), version: 5, client: ClientInfo(clientId: "s", clientHost: "h"))
        XCTAssertEqual(restarted.generationId, 1, "no rebalance")
        let sync = await coordinator.handle(
            SyncGroupRequest(groupId: "app", generationId: 1, memberId: restarted.memberId, groupInstanceId: "host-1"),
            version: 5)
        XCTAssertEqual(sync.assignment, [1, 2, 3])
        XCTAssertEqual(
            coordinator.handle(
                HeartbeatRequest(groupId: "app", generationId: 1, memberId: first.memberId, groupInstanceId: "host-1"),
                version: 3
            ).errorCode,
            KafkaErrorCode.fencedInstanceId)
    }

    func testRequestsBeforeLoadingAndAfterShutdown() async throws {
        let coordinator = try makeCoordinator(start: false)
        let early = await coordinator.handle(
            joinRequest("app"), version: 9, client: ClientInfo(clientId: "a", clientHost: "h"))
        XCTAssertEqual(early.errorCode, KafkaErrorCode.coordinatorLoadInProgress)
        XCTAssertEqual(
            commit(coordinator, "app", [("orders", 0, 1, nil, -1)]), [KafkaErrorCode.coordinatorLoadInProgress])
        XCTAssertEqual(
            coordinator.handle(ListGroupsRequest(), version: 4).errorCode, KafkaErrorCode.coordinatorLoadInProgress)
        XCTAssertEqual(
            coordinator.handle(
                OffsetFetchRequest(groupId: "app", topics: [.init(name: "orders", partitionIndexes: [0])]), version: 1
            )
            .topics.flatMap { $0.partitions.map(\.errorCode) }, [KafkaErrorCode.coordinatorLoadInProgress],
            "v0-1 carry group errors per partition")

        try coordinator.start()
        let request = joinRequest("app")
        let parked = Task {
            await coordinator.handle(request, version: 3, client: ClientInfo(clientId: "a", clientHost: "h"))
        }
        await waitForParked(coordinator, count: 1)
        coordinator.shutdown()
        let answer = await parked.value
        XCTAssertEqual(answer.errorCode, KafkaErrorCode.notCoordinator)
        XCTAssertEqual(
            coordinator.handle(HeartbeatRequest(groupId: "app", generationId: 1, memberId: "a-id"), version: 4)
                .errorCode,
            KafkaErrorCode.notCoordinator)
    }

    func testInvalidGroupIdsAndUnknownGroups() async throws {
        let coordinator = try makeCoordinator()
        let join = await coordinator.handle(
            joinRequest(""), version: 9, client: ClientInfo(clientId: "a", clientHost: "h"))
        XCTAssertEqual(join.errorCode, KafkaErrorCode.invalidGroupId)
        XCTAssertEqual(
            coordinator.handle(HeartbeatRequest(groupId: "", generationId: 1, memberId: "m"), version: 4).errorCode,
            KafkaErrorCode.invalidGroupId)
        XCTAssertEqual(
            coordinator.handle(HeartbeatRequest(groupId: "nope", generationId: 1, memberId: "m"), version: 4).errorCode,
            KafkaErrorCode.unknownMemberId)
        let sync = await coordinator.handle(
            SyncGroupRequest(groupId: "nope", generationId: 1, memberId: "m"), version: 5)
        XCTAssertEqual(sync.errorCode, KafkaErrorCode.unknownMemberId)
        let rejoin = await coordinator.handle(
            joinRequest("nope", memberId: "m"), version: 9, client: ClientInfo(clientId: "a", clientHost: "h"))
        XCTAssertEqual(rejoin.errorCode, KafkaErrorCode.unknownMemberId)
        XCTAssertEqual(
            coordinator.handle(LeaveGroupRequest(groupId: "nope", memberId: "m"), version: 0).errorCode,
            KafkaErrorCode.unknownMemberId)
        XCTAssertEqual(
            commit(coordinator, "", [("orders", 0, 1, nil, -1)]), [0], "offset APIs accept the empty group id")
        XCTAssertEqual(coordinator.handle(ListGroupsRequest(), version: 0).groups.map(\.groupId), [""])
    }

    func testACommitThatCannotBePersistedIsNotApplied() throws {
        let coordinator = try makeCoordinator()
        store.failAppends(with: StoreFailure())
        XCTAssertEqual(
            commit(coordinator, "simple", [("orders", 0, 1, nil, -1)]), [KafkaErrorCode.coordinatorNotAvailable])
        XCTAssertEqual(fetch(coordinator, "simple", "orders", [0]).map(\.committedOffset), [-1])
        store.failAppends(with: nil)
        XCTAssertEqual(commit(coordinator, "simple", [("orders", 0, 1, nil, -1)]), [0])
        XCTAssertEqual(fetch(coordinator, "simple", "orders", [0]).map(\.committedOffset), [1])
    }
}
