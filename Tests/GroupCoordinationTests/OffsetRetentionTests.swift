import GroupCoordination
import KafkaProtocol
import XCTest

/// Offset retention (KIP-211) through the coordinator, with a fake clock: retention 60 s, checked
/// every second.
let retentionConfig = GroupCoordinatorConfig(
    minSessionTimeoutMs: 1_000, maxSessionTimeoutMs: 60_000, initialRebalanceDelayMs: 100, maxGroupSize: 10,
    maxOffsetMetadataBytes: 16, offsetsRetentionMs: 60_000, offsetsRetentionCheckIntervalMs: 1_000)

extension GroupCoordinatorTests {
    /// Moves the clock by `ms` in 5 s steps; the members heartbeat (generation 1) at every step and
    /// the coordinator ticks (which also runs the retention check).
    func keepAlive(_ coordinator: GroupCoordinator, _ group: String, _ ids: [String], forMs ms: Int64) {
        var left = ms
        while left > 0 {
            let step = min(left, 5_000)
            clock.advance(byMs: step)
            left -= step
            for id in ids {
                XCTAssertEqual(
                    coordinator.handle(HeartbeatRequest(groupId: group, generationId: 1, memberId: id), version: 4)
                        .errorCode, 0)
            }
            coordinator.tick()
        }
    }

    func committedOffset(_ coordinator: GroupCoordinator, _ group: String, _ topic: String, _ partition: Int32)
        -> Int64?
    {
        fetch(coordinator, group, topic, [partition]).first?.committedOffset
    }

    func testAnEmptiedGroupsOffsetsExpireRetentionAfterItEmptiedAndTheGroupIsDeleted() async throws {
        let coordinator = try makeCoordinator(config: retentionConfig)
        let ids = try await formStableGroup(coordinator, "app", clients: ["a"])
        XCTAssertEqual(commit(coordinator, "app", generation: 1, memberId: ids[0], [("orders", 0, 42, nil, -1)]), [0])
        // Subscribed offsets of a live group never expire, however old the commit.
        keepAlive(coordinator, "app", ids, forMs: 3 * 60_000)
        XCTAssertEqual(coordinator.expireOffsets().offsets, 0)
        XCTAssertEqual(committedOffset(coordinator, "app", "orders", 0), 42)

        XCTAssertEqual(
            coordinator.handle(LeaveGroupRequest(groupId: "app", members: [.init(memberId: ids[0])]), version: 3)
                .errorCode, 0)
        XCTAssertEqual(coordinator.group("app")?.state, .empty)
        let emptiedAt = clock.now

        // The clock started when the group emptied, not at the (much older) commit.
        clock.advance(byMs: 60_000 - 1)
        coordinator.tick()
        XCTAssertEqual(coordinator.expireOffsets().offsets, 0)
        XCTAssertEqual(committedOffset(coordinator, "app", "orders", 0), 42)

        // A restarted coordinator keeps the time the group emptied (from its metadata record).
        let restarted = try makeCoordinator(store: InMemoryGroupStore(records: store.records), config: retentionConfig)
        XCTAssertEqual(restarted.expireOffsets().offsets, 0)
        clock.advance(byMs: 1)
        XCTAssertEqual(clock.now - emptiedAt, 60_000)
        XCTAssertEqual(restarted.expireOffsets().offsets, 1)
        XCTAssertNil(restarted.group("app"))

        XCTAssertTrue(coordinator.expireOffsets() == (offsets: 1, groups: 1))
        XCTAssertNil(coordinator.group("app"))
        XCTAssertEqual(committedOffset(coordinator, "app", "orders", 0), -1)
        XCTAssertEqual(
            coordinator.handle(DescribeGroupsRequest(groups: ["app"]), version: 5).groups[0].groupState, "Dead")
        XCTAssertEqual(coordinator.handle(ListGroupsRequest(), version: 4).groups, [])
        XCTAssertEqual(
            store.compacted.filter { $0.key.groupId == "app" },
            [.offsetTombstone(groupId: "app", topic: "orders", partition: 0), .groupTombstone(groupId: "app")])

        // Nothing comes back after a restart.
        let afterExpiry = try makeCoordinator(
            store: InMemoryGroupStore(records: store.compacted), config: retentionConfig)
        XCTAssertNil(afterExpiry.group("app"))
        XCTAssertEqual(committedOffset(afterExpiry, "app", "orders", 0), -1)
    }

    func testAStableGroupKeepsSubscribedOffsetsAndLosesOffsetsOfTopicsItNoLongerSubscribesTo() async throws {
        let coordinator = try makeCoordinator(config: retentionConfig)
        let ids = try await formStableGroup(coordinator, "app", clients: ["a", "b"])  // subscribed to "orders"
        XCTAssertEqual(
            commit(
                coordinator, "app", generation: 1, memberId: ids[0],
                [("orders", 0, 1, nil, -1), ("payments", 0, 2, nil, -1)]), [0, 0])
        keepAlive(coordinator, "app", ids, forMs: 55_000)
        XCTAssertEqual(commit(coordinator, "app", generation: 1, memberId: ids[1], [("orders", 1, 3, nil, -1)]), [0])
        keepAlive(coordinator, "app", ids, forMs: 5_000)
        // payments-0 was committed 60 s ago and nobody subscribes to it: measured from its commit.
        XCTAssertEqual(committedOffset(coordinator, "app", "payments", 0), -1)
        XCTAssertEqual(committedOffset(coordinator, "app", "orders", 0), 1)
        XCTAssertEqual(committedOffset(coordinator, "app", "orders", 1), 3)
        XCTAssertEqual(coordinator.group("app")?.state, .stable)
        XCTAssertEqual(store.records.last, .offsetTombstone(groupId: "app", topic: "payments", partition: 0))

        keepAlive(coordinator, "app", ids, forMs: 10 * 60_000)
        XCTAssertEqual(
            coordinator.group("app")?.offsets.keys.sorted(),
            [
                TopicPartition("orders", 0), TopicPartition("orders", 1)
            ])
    }

    func testARebalancingGroupExpiresNothing() async throws {
        let coordinator = try makeCoordinator(config: retentionConfig)
        let ids = try await formStableGroup(coordinator, "app", clients: ["a", "b"])
        XCTAssertEqual(commit(coordinator, "app", generation: 1, memberId: ids[0], [("payments", 0, 2, nil, -1)]), [0])
        // The leader rejoins: PreparingRebalance, waiting for b, until the rebalance timeout (20 s).
        let request = joinRequest("app", memberId: ids[0])
        let rejoin = Task {
            await coordinator.handle(request, version: 9, client: ClientInfo(clientId: "a", clientHost: "/127.0.0.1"))
        }
        await waitForParked(coordinator, count: 1)
        XCTAssertEqual(coordinator.group("app")?.state, .preparingRebalance)
        clock.advance(byMs: 60_000)
        XCTAssertEqual(
            coordinator.expireOffsets().offsets, 0, "payments-0 is not subscribed, but the group is not stable")
        XCTAssertEqual(committedOffset(coordinator, "app", "payments", 0), 2)
        coordinator.tick()  // b's session expired; the join phase completes without it
        let answer = await rejoin.value
        XCTAssertEqual(answer.generationId, 2)
    }

    func testStandaloneCommitsExpireFromTheirOwnCommitTime() throws {
        let coordinator = try makeCoordinator(config: retentionConfig)
        XCTAssertEqual(commit(coordinator, "simple", [("orders", 0, 10, nil, -1)]), [0])
        clock.advance(byMs: 30_000)
        XCTAssertEqual(commit(coordinator, "simple", [("orders", 1, 11, nil, -1)]), [0])
        clock.advance(byMs: 30_000)
        coordinator.tick()
        XCTAssertEqual(committedOffset(coordinator, "simple", "orders", 0), -1)
        XCTAssertEqual(committedOffset(coordinator, "simple", "orders", 1), 11)
        XCTAssertEqual(coordinator.group("simple")?.state, .empty)

        // Re-committing restarts that partition's clock.
        XCTAssertEqual(commit(coordinator, "simple", [("orders", 1, 12, nil, -1)]), [0])
        clock.advance(byMs: 59_000)
        coordinator.tick()
        XCTAssertEqual(committedOffset(coordinator, "simple", "orders", 1), 12)
        clock.advance(byMs: 1_000)
        coordinator.tick()
        XCTAssertNil(coordinator.group("simple"), "the group goes with its last offset")
        XCTAssertEqual(
            store.compacted.filter { $0.key.groupId == "simple" },
            [
                .offsetTombstone(groupId: "simple", topic: "orders", partition: 0),
                .offsetTombstone(groupId: "simple", topic: "orders", partition: 1), .groupTombstone(groupId: "simple")
            ])
    }

    func testTheCheckRunsOnTickAtTheConfiguredInterval() throws {
        var config = retentionConfig
        config.offsetsRetentionCheckIntervalMs = 10_000
        let coordinator = try makeCoordinator(config: config)  // first check due at start + 10 s
        XCTAssertEqual(commit(coordinator, "simple", [("orders", 0, 10, nil, -1)]), [0])
        clock.advance(byMs: 60_000)
        coordinator.tick()  // due: runs, expires
        XCTAssertNil(coordinator.group("simple"))
        XCTAssertEqual(commit(coordinator, "simple", [("orders", 0, 10, nil, -1)]), [0])
        clock.advance(byMs: 60_000)
        XCTAssertNotNil(coordinator.group("simple"), "no tick, no check")
        coordinator.tick()
        XCTAssertNil(coordinator.group("simple"))
        XCTAssertEqual(commit(coordinator, "simple", [("orders", 0, 10, nil, -1)]), [0])
        clock.advance(byMs: 60_000)
        coordinator.tick()  // last check 60 s ago: due
        XCTAssertNil(coordinator.group("simple"))
        XCTAssertEqual(commit(coordinator, "simple", [("orders", 0, 10, nil, -1)]), [0])
        clock.advance(byMs: 60_000 - 1)
        coordinator.tick()  // ran 1 ms short of retention: next check only 10 s later
        clock.advance(byMs: 5_000)
        coordinator.tick()
        XCTAssertNotNil(coordinator.group("simple"))
        clock.advance(byMs: 5_000)
        coordinator.tick()
        XCTAssertNil(coordinator.group("simple"))
    }

    func testCommitAfterTheGroupEmptiedCountsFromTheCommit() async throws {
        let coordinator = try makeCoordinator(config: retentionConfig)
        let ids = try await formStableGroup(coordinator, "app", clients: ["a"])
        XCTAssertEqual(
            coordinator.handle(LeaveGroupRequest(groupId: "app", members: [.init(memberId: ids[0])]), version: 3)
                .errorCode, 0)
        clock.advance(byMs: 50_000)
        XCTAssertEqual(commit(coordinator, "app", [("orders", 0, 5, nil, -1)]), [0])  // a simple commit to the empty group
        clock.advance(byMs: 59_999)
        XCTAssertEqual(coordinator.expireOffsets().offsets, 0)
        clock.advance(byMs: 1)
        XCTAssertTrue(coordinator.expireOffsets() == (offsets: 1, groups: 1))
    }

    func testAnEmptyGroupWithoutOffsetsIsDeletedAtTheNextCheck() async throws {
        let coordinator = try makeCoordinator(config: retentionConfig)
        let ids = try await formStableGroup(coordinator, "app", clients: ["a"])
        XCTAssertEqual(
            coordinator.handle(LeaveGroupRequest(groupId: "app", members: [.init(memberId: ids[0])]), version: 3)
                .errorCode, 0)
        XCTAssertEqual(coordinator.group("app")?.state, .empty)
        XCTAssertTrue(coordinator.expireOffsets() == (offsets: 0, groups: 1))
        XCTAssertNil(coordinator.group("app"))
        XCTAssertEqual(store.records.last, .groupTombstone(groupId: "app"))
    }

    func testRetentionTimeMsOfOffsetCommitV2ToV4OverridesTheBrokerRetention() throws {
        let coordinator = try makeCoordinator(config: retentionConfig)
        func commit(_ partition: Int32, version: Int16, retentionTimeMs: Int64, commitTimestamp: Int64 = -1) {
            let request = OffsetCommitRequest(
                groupId: "old-client", generationIdOrMemberEpoch: -1, memberId: "", retentionTimeMs: retentionTimeMs,
                topics: [
                    .init(
                        name: "orders",
                        partitions: [
                            .init(
                                partitionIndex: partition, committedOffset: Int64(partition),
                                commitTimestamp: commitTimestamp)
                        ])
                ])
            XCTAssertEqual(coordinator.handle(request, version: version).topics[0].partitions[0].errorCode, 0)
        }
        commit(0, version: 2, retentionTimeMs: 5_000)  // expires in 5 s
        commit(1, version: 4, retentionTimeMs: 120_000)  // outlives the broker's 60 s
        commit(2, version: 3, retentionTimeMs: -1)  // -1: the broker's retention
        commit(0, version: 5, retentionTimeMs: 5_000)  // no such field in v5: ignored
        XCTAssertEqual(coordinator.group("old-client")?.offsets[TopicPartition("orders", 0)]?.expireTimestampMs, nil)
        commit(0, version: 2, retentionTimeMs: 5_000)
        // v1's explicit commit timestamp is the commit time retention counts from.
        XCTAssertEqual(
            coordinator.handle(
                OffsetCommitRequest(
                    groupId: "v1-client", generationIdOrMemberEpoch: -1, memberId: "",
                    topics: [
                        .init(
                            name: "payments",
                            partitions: [
                                .init(partitionIndex: 0, committedOffset: 9, commitTimestamp: clock.now - 50_000)
                            ])
                    ]),
                version: 1
            ).topics[0].partitions[0].errorCode, 0)

        clock.advance(byMs: 5_000)
        XCTAssertEqual(coordinator.expireOffsets().offsets, 1)
        XCTAssertEqual(committedOffset(coordinator, "old-client", "orders", 0), -1)
        clock.advance(byMs: 5_000)
        XCTAssertTrue(coordinator.expireOffsets() == (offsets: 1, groups: 1))  // v1-client's payments-0, 60 s after its timestamp
        clock.advance(byMs: 50_000)
        XCTAssertEqual(coordinator.expireOffsets().offsets, 1)
        XCTAssertEqual(committedOffset(coordinator, "old-client", "orders", 1), 1)
        XCTAssertEqual(committedOffset(coordinator, "old-client", "orders", 2), -1)

        // The explicit expiry time survives a restart (offset value version 1).
        let restarted = try makeCoordinator(
            store: InMemoryGroupStore(records: store.compacted), config: retentionConfig)
        XCTAssertEqual(committedOffset(restarted, "old-client", "orders", 1), 1)
        clock.advance(byMs: 60_000 - 1)
        XCTAssertEqual(restarted.expireOffsets().offsets, 0)
        clock.advance(byMs: 1)
        XCTAssertTrue(restarted.expireOffsets() == (offsets: 1, groups: 1))
    }

    func testExpiredOffsetsThatCannotBePersistedStay() throws {
        let coordinator = try makeCoordinator(config: retentionConfig)
        XCTAssertEqual(commit(coordinator, "simple", [("orders", 0, 10, nil, -1)]), [0])
        clock.advance(byMs: 60_000)
        store.failAppends(with: StoreFailure())
        XCTAssertTrue(coordinator.expireOffsets() == (offsets: 0, groups: 0))
        XCTAssertEqual(committedOffset(coordinator, "simple", "orders", 0), 10)
        store.failAppends(with: nil)
        XCTAssertTrue(coordinator.expireOffsets() == (offsets: 1, groups: 1))
    }
}
