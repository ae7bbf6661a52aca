import KafkaProtocol
import Replication
import XCTest

/// Transcripts of failovers from east to west: each line is an event the runner feeds (with the
/// time) and the action the machine answers with.
final class FailoverMachineTests: XCTestCase {
    typealias Machine = FailoverMachine
    let t: Int64 = 1_800_000_000_000
    let p0 = FailoverPartition(sourceTopic: "orders", targetTopic: "orders", partition: 0)
    let p1 = FailoverPartition(sourceTopic: "orders", targetTopic: "orders", partition: 1)

    func machine(_ kind: FailoverKind, quietPeriodMs: Int64 = 1_000) -> Machine {
        Machine(
            Machine.Configuration(
                id: "dr-east-to-west-1", topology: "dr", from: "east", to: "west", kind: kind, offsets: .preserve,
                partitions: [p1, p0], drainTimeoutMs: 10_000, pollIntervalMs: 200, quietPeriodMs: quietPeriodMs))
    }

    func positions(source: [Int64]?, mirrored: [Int64], at time: Int64) -> Machine.Positions {
        var sourceEnd: [FailoverPartition: SeenEndOffset] = [:]
        if let source {
            sourceEnd = [
                p0: SeenEndOffset(offset: source[0], atMs: time), p1: SeenEndOffset(offset: source[1], atMs: time)
            ]
        }
        return Machine.Positions(
            sourceEnd: sourceEnd, mirrored: [p0: mirrored[0], p1: mirrored[1]],
            targetEnd: [p0: mirrored[0], p1: mirrored[1]])
    }

    let resumes = [GroupResume(group: "billing", topic: "orders", partition: 0, offset: 40)]

    func testAPlannedFailoverFencesDrainsSyncsGroupsPromotesRecordsAndStopsTheLink() throws {
        var m = machine(.planned)
        XCTAssertEqual(m.handle(.started(now: t, previous: nil)), .fence)
        XCTAssertEqual(m.handle(.fenced(now: t + 10)), .readPositions(afterMs: 0))
        // Still 5 and 2 records behind: read again after the poll interval.
        XCTAssertEqual(
            m.handle(.positionsRead(now: t + 20, positions(source: [50, 30], mirrored: [45, 28], at: t + 20))),
            .readPositions(afterMs: 200))
        XCTAssertEqual(
            m.handle(.positionsRead(now: t + 240, positions(source: [50, 30], mirrored: [50, 30], at: t + 240))),
            .syncGroups)
        XCTAssertEqual(m.handle(.groupsSynced(now: t + 250, resumes)), .promote)
        guard case let .writeRecord(record) = m.handle(.promoted(now: t + 260)) else {
            return XCTFail("promotion is followed by the record")
        }
        XCTAssertEqual(record.points.map(\.partition), [0, 1])
        XCTAssertEqual(record.points.map(\.mirroredOffset), [50, 30])
        XCTAssertEqual(record.points.map(\.mayBeLost), [0, 0])
        XCTAssertEqual(record.groups, resumes)
        XCTAssertEqual(record.promotedAtMs, t + 260)
        XCTAssertEqual(m.handle(.recorded(now: t + 270)), .confirmLinkStopped)
        guard case let .finish(report) = m.handle(.linkStopped(now: t + 1_270)) else {
            return XCTFail("the stopped link ends the failover")
        }
        XCTAssertEqual(report.record, record)
        XCTAssertEqual(report.mayBeLost, 0)
        XCTAssertEqual(report.drainedAtMs, t + 240)
        XCTAssertEqual(
            report.steps.map(\.step), [.checkPrevious, .fence, .drain, .finalGroupSync, .promote, .record, .stopLink])
        XCTAssertEqual(report.steps.first?.startedAtMs, t)
        XCTAssertEqual(report.steps.last?.endedAtMs, t + 1_270)
        XCTAssertEqual(report.notes, [])
    }

    func testAFailoverOfTheSameDirectionThatStandsIsRefusedBeforeAnythingChanges() throws {
        var first = machine(.unplanned)
        _ = first.handle(.started(now: t, previous: nil))
        _ = first.handle(.positionsRead(now: t, positions(source: [5, 5], mirrored: [5, 5], at: t)))
        _ = first.handle(.groupsSynced(now: t, []))
        guard case let .writeRecord(standing) = first.handle(.promoted(now: t)) else { return XCTFail() }

        var again = machine(.planned)
        guard case let .refuse(why) = again.handle(.started(now: t + 60_000, previous: standing)) else {
            return XCTFail("a second failover must be refused")
        }
        XCTAssertTrue(why.contains("dr-east-to-west-1"), why)
        XCTAssertTrue(why.contains("strait failback FILE --to east"), why)
        // The machine has ended: nothing more happens.
        XCTAssertEqual(again.handle(.fenced(now: t + 60_001)), .fail("failover dr-east-to-west-1 already ended"))
    }

    func testADrainThatDoesNotFinishLiftsTheFenceAndPromotesNothing() {
        var m = machine(.planned)
        _ = m.handle(.started(now: t, previous: nil))
        _ = m.handle(.fenced(now: t))
        XCTAssertEqual(
            m.handle(.positionsRead(now: t + 5_000, positions(source: [50, 30], mirrored: [10, 30], at: t))),
            .readPositions(afterMs: 200))
        XCTAssertEqual(
            m.handle(.positionsRead(now: t + 10_000, positions(source: [50, 30], mirrored: [12, 30], at: t))),
            .unfenceAndFail(
                "failover dr-east-to-west-1: the drain did not finish within 10000 ms (orders-0: 38 records behind); nothing was promoted; the fence is lifted"
            ))
    }

    func testAPrimaryThatCannotFenceDrainsOnlyOnceItsEndOffsetsStayStillForTheQuietPeriod() throws {
        var m = machine(.planned, quietPeriodMs: 1_000)
        _ = m.handle(.started(now: t, previous: nil))
        XCTAssertEqual(
            m.handle(
                .fenceUnsupported(now: t, reason: "INVALID_CONFIG (40): Unknown topic config name: strait.fenced")),
            .readPositions(afterMs: 0))
        // Caught up, but the producers may still be writing: wait.
        XCTAssertEqual(
            m.handle(.positionsRead(now: t + 100, positions(source: [50, 30], mirrored: [50, 30], at: t))),
            .readPositions(afterMs: 200))
        // A producer wrote: the quiet period starts again.
        XCTAssertEqual(
            m.handle(.positionsRead(now: t + 800, positions(source: [51, 30], mirrored: [51, 30], at: t))),
            .readPositions(afterMs: 200))
        XCTAssertEqual(
            m.handle(.positionsRead(now: t + 1_500, positions(source: [51, 30], mirrored: [51, 30], at: t))),
            .readPositions(afterMs: 200))
        XCTAssertEqual(
            m.handle(.positionsRead(now: t + 1_800, positions(source: [51, 30], mirrored: [51, 30], at: t))),
            .syncGroups)
        _ = m.handle(.groupsSynced(now: t + 1_900, []))
        _ = m.handle(.promoted(now: t + 2_000))
        _ = m.handle(.recorded(now: t + 2_100))
        guard case let .finish(report) = m.handle(.linkStopped(now: t + 2_200)) else { return XCTFail() }
        XCTAssertEqual(
            report.notes,
            [
                "east cannot fence its topics (INVALID_CONFIG (40): Unknown topic config name: strait.fenced): stop its producers; the drain waits until its end offsets stay unchanged for 1000 ms"
            ])
    }

    func testAnUnplannedFailoverPromotesAtTheMirroredPositionAndReportsWhatTheLinkSawBeyondIt() throws {
        var m = machine(.unplanned)
        XCTAssertEqual(m.handle(.started(now: t, previous: nil)), .readPositions(afterMs: 0))
        // The link last saw ends 50 and 30 at t - 2 s; west holds 47 and 30.
        let seen = positions(source: [50, 30], mirrored: [47, 30], at: t - 2_000)
        XCTAssertEqual(m.handle(.positionsRead(now: t + 10, seen)), .syncGroups)
        XCTAssertEqual(m.handle(.groupsSynced(now: t + 20, resumes)), .promote)
        guard case let .writeRecord(record) = m.handle(.promoted(now: t + 30)) else { return XCTFail() }
        XCTAssertEqual(record.kind, .unplanned)
        XCTAssertEqual(record.points.map(\.mayBeLost), [3, 0])
        XCTAssertEqual(
            record.points.map(\.sourceEnd),
            [SeenEndOffset(offset: 50, atMs: t - 2_000), SeenEndOffset(offset: 30, atMs: t - 2_000)])
        XCTAssertEqual(m.handle(.recorded(now: t + 40)), .confirmLinkStopped)
        guard case let .finish(report) = m.handle(.linkStopUnconfirmed(now: t + 50, reason: "no replicator answers"))
        else { return XCTFail() }
        XCTAssertEqual(report.mayBeLost, 3)
        XCTAssertEqual(report.steps.map(\.step), [.checkPrevious, .assessLoss, .promote, .record, .stopLink])
        XCTAssertEqual(
            report.notes,
            [
                "the link's stop was not confirmed (no replicator answers); a link that starts reads the failover record and stays stopped"
            ])
    }

    func testWithoutTheLinksStatusWhatMayBeLostIsUnknownNotZero() throws {
        var m = machine(.unplanned)
        _ = m.handle(.started(now: t, previous: nil))
        _ = m.handle(.positionsRead(now: t, positions(source: nil, mirrored: [47, 30], at: t)))
        _ = m.handle(.groupsSynced(now: t, []))
        guard case let .writeRecord(record) = m.handle(.promoted(now: t)) else { return XCTFail() }
        XCTAssertEqual(record.points.map(\.mayBeLost), [nil, nil])
        _ = m.handle(.recorded(now: t))
        guard case let .finish(report) = m.handle(.linkStopped(now: t)) else { return XCTFail() }
        XCTAssertNil(report.mayBeLost)
        XCTAssertEqual(report.notes.count, 1)
    }

    func testAFailedStepAfterTheFenceLiftsItAndAFailedRecordSaysTheTopicsArePromoted() {
        var fenced = machine(.planned)
        _ = fenced.handle(.started(now: t, previous: nil))
        _ = fenced.handle(.fenced(now: t))
        _ = fenced.handle(.positionsRead(now: t, positions(source: [5, 5], mirrored: [5, 5], at: t)))
        XCTAssertEqual(
            fenced.handle(.stepFailed(now: t, .finalGroupSync, message: "COORDINATOR_NOT_AVAILABLE (15)")),
            .unfenceAndFail(
                "failover dr-east-to-west-1 failed at step final-group-sync: COORDINATOR_NOT_AVAILABLE (15); nothing was promoted"
            ))

        var promoted = machine(.unplanned)
        _ = promoted.handle(.started(now: t, previous: nil))
        _ = promoted.handle(.positionsRead(now: t, positions(source: [5, 5], mirrored: [5, 5], at: t)))
        _ = promoted.handle(.groupsSynced(now: t, []))
        _ = promoted.handle(.promoted(now: t))
        XCTAssertEqual(
            promoted.handle(.stepFailed(now: t, .record, message: "NOT_ENOUGH_REPLICAS (19)")),
            .fail(
                "failover dr-east-to-west-1 failed at step record: NOT_ENOUGH_REPLICAS (19); the topics at west are already promoted"
            ))
    }

    func testAFailoverOfALinkThatMirrorsNothingYetFailsAtOnce() {
        var m = Machine(
            .init(id: "x", topology: "dr", from: "east", to: "west", kind: .planned, offsets: .preserve, partitions: [])
        )
        XCTAssertEqual(
            m.handle(.started(now: t, previous: nil)),
            .fail("link east → west mirrors no partition yet: nothing to fail over"))
    }

    func testTheRecordRoundTripsThroughJSON() throws {
        var m = machine(.unplanned)
        _ = m.handle(.started(now: t, previous: nil))
        _ = m.handle(.positionsRead(now: t, positions(source: [50, 30], mirrored: [47, 30], at: t)))
        _ = m.handle(.groupsSynced(now: t, resumes))
        guard case let .writeRecord(record) = m.handle(.promoted(now: t)) else { return XCTFail() }
        let decoded = try JSONDecoder().decode(FailoverRecord.self, from: JSONEncoder().encode(record))
        XCTAssertEqual(decoded, record)
        XCTAssertEqual(FailoverRecord.key(from: "east", to: "west"), "east->west")
    }
}
