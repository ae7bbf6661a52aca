import Failover
import Replication
import XCTest

/// How a drill's figures follow from what it saw.
final class DrillResultTests: XCTestCase {
    let t: Int64 = 1_800_000_000_000

    func report(mayBeLost: Int64?) -> FailoverReport {
        let record = FailoverRecord(
            id: "dr-east-to-west-1", topology: "dr", from: "east", to: "west", kind: .unplanned, offsets: "preserve",
            startedAtMs: t, promotedAtMs: t + 100,
            points: [
                FailoverPoint(
                    sourceTopic: "orders", targetTopic: "orders", partition: 0, mirroredOffset: 7, targetEndOffset: 7,
                    sourceEnd: mayBeLost.map { SeenEndOffset(offset: 7 + $0, atMs: t - 50) }, mayBeLost: mayBeLost)
            ], groups: [])
        return FailoverReport(
            record: record, steps: [StepTime(step: .promote, startedAtMs: t + 90, endedAtMs: t + 100)], notes: [],
            drainedAtMs: nil)
    }

    func testLostRereadSkippedAndRTOAreCountedFromTheSequenceNumbers() {
        var seen = DrillObservations()
        // 0...9 acknowledged at east (produced 10 ms apart); the standby holds 0...6 and its own 10, 11.
        for number in Int64(0)...9 {
            seen.ackedAtPrimary[number] = t - 100 + number * 10
            seen.producedAt[number] = t - 105 + number * 10
        }
        seen.ackedAtStandby = [10, 11]
        seen.presentAtStandby = Set(0...6).union([10, 11])
        // The group read 0...5 at east, then resumed at west from 4 (read 4 and 5 again); 6 never read.
        seen.consumed = [0, 1, 2, 3, 4, 5, 4, 5, 10, 11]
        seen.disasterAt = t
        seen.firstStandbyConsumeAt = t + 1_250
        let result = DrillResult(seen, kind: .unplanned, failover: report(mayBeLost: 2))
        XCTAssertEqual(result.acknowledgedLost, 3)  // 7, 8, 9
        XCTAssertEqual(result.rpoRecords, 2)
        XCTAssertEqual(result.rpoSeconds, 0.035, accuracy: 0.0001)  // 7 was produced at t - 35 ms
        XCTAssertEqual(result.reread, 2)
        XCTAssertEqual(result.skipped, 1)
        XCTAssertEqual(result.rtoSeconds ?? 0, 1.25, accuracy: 0.0001)
        XCTAssertEqual(result.producedAtPrimary, 10)
        XCTAssertEqual(result.producedAtStandby, 2)
        XCTAssertEqual(result.exceeded(maxRPORecords: 3, maxRTOSeconds: 2), [])
        XCTAssertEqual(
            result.exceeded(maxRPORecords: 2, maxRTOSeconds: 1),
            ["acknowledged_lost 3 > --max-rpo-records 2", "rto_seconds 1.250 > --max-rto-seconds 1.0"])
    }

    func testNothingLostIsZeroSecondsAndTheJSONHasTheDocumentedNames() throws {
        var seen = DrillObservations()
        seen.ackedAtPrimary = [0: t - 10]
        seen.producedAt = [0: t - 11]
        seen.presentAtStandby = [0]
        seen.consumed = [0]
        seen.disasterAt = t
        let result = DrillResult(seen, kind: .planned, failover: report(mayBeLost: 0))
        XCTAssertEqual(result.acknowledgedLost, 0)
        XCTAssertEqual(result.rpoSeconds, 0)
        XCTAssertNil(result.rtoSeconds)
        XCTAssertEqual(
            result.exceeded(maxRPORecords: nil, maxRTOSeconds: 5),
            ["no record was produced and consumed at the standby (--max-rto-seconds 5.0)"])
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)) as? [String: Any]
        for field in ["acknowledged_lost", "rpo_records", "rpo_seconds", "reread", "skipped", "failover"] {
            XCTAssertNotNil(json?[field], field)
        }
    }
}
