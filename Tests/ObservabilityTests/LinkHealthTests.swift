import Observability
import Replicator
import XCTest

/// `/status` answers, as a running replicator serves them, and what `strait status` decides
/// about them: each link's problems and the exit status.
final class LinkHealthTests: XCTestCase {
    static let now: Int64 = 1_700_000_100_000
    static let eastToWest = LinkHealth.ExpectedLink(source: "east", target: "west", checkpointIntervalMs: 10_000)

    /// One link's /status entry with one partition of `orders`.
    static func snapshot(
        mode: String = "preserve", checkpointAgeMs: Int64? = 2_000, errors: Int64 = 0,
        mirrored: Int64 = 100, sourceEnd: Int64 = 100, oldestUnmirrored: Int64? = nil,
        source: String = "east", target: String = "west"
    ) throws -> LinkStatus.Snapshot {
        var partition: [String: Any] = [
            "sourceTopic": "orders", "targetTopic": "\(source).orders", "partition": 0,
            "mirroredOffset": mirrored, "sourceEndOffset": sourceEnd, "records": mirrored, "bytes": mirrored * 80,
            "gaps": 0, "gapOffsets": 0, "duplicates": 0, "loopRecordsSkipped": 0, "errors": errors
        ]
        if let oldestUnmirrored { partition["oldestUnmirroredTimestamp"] = oldestUnmirrored }
        var link: [String: Any] = [
            "source": source, "target": target, "mode": mode, "errors": errors, "taskErrors": 0,
            "partitions": [partition]
        ]
        if let checkpointAgeMs { link["checkpointAgeMs"] = checkpointAgeMs }
        return try JSONDecoder().decode(LinkStatus.Snapshot.self, from: JSONSerialization.data(withJSONObject: link))
    }

    func assess(
        _ snapshots: [LinkStatus.Snapshot], previous: [LinkStatus.Snapshot]? = nil,
        bounds: LinkHealth.Bounds = .init()
    ) -> [LinkHealth.Verdict] {
        LinkHealth.assess(snapshots, previous: previous, expected: [Self.eastToWest], bounds: bounds, now: Self.now)
    }

    func testACaughtUpLinkWithRecentCheckpointsIsOkWhateverTheBounds() throws {
        let verdicts = assess([try Self.snapshot()], bounds: .init(maxLagRecords: 0, maxLagMs: 0))
        XCTAssertEqual(verdicts, [.init(source: "east", target: "west", problems: [])])
        XCTAssertEqual(LinkHealth.exitStatus(verdicts), .ok)
    }

    func testALinkThatHasNotReachedBothClustersIsDownAndNothingElseIsSaid() throws {
        let verdicts = assess(
            [try Self.snapshot(mode: "starting", checkpointAgeMs: nil, mirrored: 0, sourceEnd: 0)],
            bounds: .init(maxLagRecords: 0))
        XCTAssertEqual(verdicts.map(\.problems), [[.notStarted]])
        XCTAssertEqual(LinkHealth.exitStatus(verdicts), .linkDown)
    }

    func testALinkStoppedByAFailoverIsDownAndSaysWhichFailover() throws {
        var snapshot = try Self.snapshot(mode: "failed-over", checkpointAgeMs: 90_000, mirrored: 5, sourceEnd: 9)
        snapshot.failover = "dr-east-to-west-20261202T230000Z"
        let verdicts = assess([snapshot], bounds: .init(maxLagRecords: 0))
        XCTAssertEqual(verdicts.map(\.problems), [[.failedOver(failover: "dr-east-to-west-20261202T230000Z")]])
        XCTAssertEqual(LinkHealth.exitStatus(verdicts), .linkDown)
        XCTAssertEqual(
            StatusText.describe(verdicts[0].problems[0]),
            "DOWN: stopped by failover dr-east-to-west-20261202T230000Z: its topics at the target are promoted (docs/failover.md)"
        )
    }

    func testALinkOfTheTopologyThatTheProcessDoesNotRunIsDown() {
        let verdicts = assess([])
        XCTAssertEqual(verdicts, [.init(source: "east", target: "west", problems: [.notRunning])])
        XCTAssertEqual(LinkHealth.exitStatus(verdicts), .linkDown)
    }

    func testCheckpointsStalledPastThreeIntervalsPlusFiveSecondsMeanDown() throws {
        XCTAssertEqual(Self.eastToWest.stalledAfterMs, 35_000)
        XCTAssertEqual(assess([try Self.snapshot(checkpointAgeMs: 35_000)]).map(\.problems), [[]])
        let verdicts = assess([try Self.snapshot(checkpointAgeMs: 35_001)])
        XCTAssertEqual(verdicts.map(\.problems), [[.checkpointsStalled(ageMs: 35_001, boundMs: 35_000)]])
        XCTAssertEqual(LinkHealth.exitStatus(verdicts), .linkDown)
    }

    func testNoCheckpointYetIsNotAProblem() throws {
        XCTAssertEqual(LinkHealth.exitStatus(assess([try Self.snapshot(checkpointAgeMs: nil)])), .ok)
    }

    func testAServedLinkTheTopologyDoesNotNameHasNoCheckpointBoundButIsStillCheckedForLag() throws {
        let other = try Self.snapshot(checkpointAgeMs: 999_000, mirrored: 10, sourceEnd: 50, source: "north")
        let verdicts = assess([try Self.snapshot(), other], bounds: .init(maxLagRecords: 5))
        XCTAssertEqual(
            verdicts.map(\.problems),
            [[], [.lagRecords(topic: "orders", partition: 0, lag: 40, bound: 5)]])
    }

    func testLagInRecordsOverTheBoundIsExit3AndAtTheBoundIsOk() throws {
        let lagging = try Self.snapshot(mirrored: 60, sourceEnd: 100)
        XCTAssertEqual(LinkHealth.exitStatus(assess([lagging], bounds: .init(maxLagRecords: 40))), .ok)
        let verdicts = assess([lagging], bounds: .init(maxLagRecords: 39))
        XCTAssertEqual(verdicts.map(\.problems), [[.lagRecords(topic: "orders", partition: 0, lag: 40, bound: 39)]])
        XCTAssertEqual(LinkHealth.exitStatus(verdicts), .overLagBound)
        XCTAssertEqual(LinkHealth.exitStatus(assess([lagging])), .ok, "no bound given: lag alone is no problem")
    }

    func testLagInTimeIsTheAgeOfTheOldestUnmirroredRecord() throws {
        let lagging = try Self.snapshot(mirrored: 60, sourceEnd: 100, oldestUnmirrored: Self.now - 90_000)
        XCTAssertEqual(assess([lagging], bounds: .init(maxLagMs: 90_000)).map(\.problems), [[]])
        XCTAssertEqual(
            assess([lagging], bounds: .init(maxLagMs: 60_000)).map(\.problems),
            [[.lagTime(topic: "orders", partition: 0, ageMs: 90_000, boundMs: 60_000)]])
        let fromTheFuture = try Self.snapshot(mirrored: 60, sourceEnd: 100, oldestUnmirrored: Self.now + 5_000)
        XCTAssertEqual(LinkHealth.lagMs(fromTheFuture.partitions[0], now: Self.now), 0)
    }

    func testErrorsRisingSinceThePreviousSnapshotMeanErroringButCountedErrorsAloneDoNot() throws {
        let before = try Self.snapshot(errors: 3)
        XCTAssertEqual(LinkHealth.exitStatus(assess([before])), .ok, "errors counted since start, maybe long recovered")
        XCTAssertEqual(LinkHealth.exitStatus(assess([try Self.snapshot(errors: 3)], previous: [before])), .ok)
        let verdicts = assess([try Self.snapshot(errors: 5)], previous: [before])
        XCTAssertEqual(verdicts.map(\.problems), [[.errorsRising(count: 2)]])
        XCTAssertEqual(LinkHealth.exitStatus(verdicts), .linkDown)
        XCTAssertEqual(
            LinkHealth.exitStatus(assess([try Self.snapshot(errors: 0)], previous: [before])), .ok,
            "a restarted process counts from zero")
    }

    func testDownBeatsOverABound() throws {
        let stalledAndLagging = try Self.snapshot(checkpointAgeMs: 60_000, mirrored: 0, sourceEnd: 100)
        let verdicts = assess([stalledAndLagging], bounds: .init(maxLagRecords: 10))
        XCTAssertEqual(
            verdicts.map(\.problems),
            [
                [
                    .checkpointsStalled(ageMs: 60_000, boundMs: 35_000),
                    .lagRecords(topic: "orders", partition: 0, lag: 100, bound: 10)
                ]
            ])
        XCTAssertEqual(LinkHealth.exitStatus(verdicts), .linkDown)
        XCTAssertEqual([LinkHealth.ExitStatus.overLagBound, .ok, .linkDown].max(), .linkDown)
    }

    func testNoLinksAtAllIsOk() {
        XCTAssertEqual(LinkHealth.exitStatus(LinkHealth.assess([], expected: [], bounds: .init(), now: Self.now)), .ok)
    }
}
