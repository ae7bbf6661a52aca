import Foundation
import Observability
import Replicator
import XCTest

/// What `strait status` prints for a snapshot and how `--watch` lays out its frames.
final class StatusTextTests: XCTestCase {
    let now = LinkHealthTests.now

    func testACaughtUpLinkPrintsItsLineItsTableAndOk() throws {
        let snapshot = try LinkHealthTests.snapshot()
        let verdicts = LinkHealth.assess([snapshot], expected: [LinkHealthTests.eastToWest], bounds: .init(), now: now)
        XCTAssertEqual(
            StatusText.render([snapshot], verdicts: verdicts, now: now),
            """
            LINK east → west: mode preserve, lag 0 records, last checkpoint 2.0 s ago, link errors 0
              TOPIC   PARTITION  MIRRORED  SOURCE-END  LAG  LAG-SECONDS  RECORDS  GAPS  DUPLICATES  ERRORS
              orders  0          100       100         0    0.0          100      0     0           0
            status: ok (1 link up, within bounds)
            """)
    }

    func testEveryProblemGetsALineUnderItsLinkAndTheSummaryNamesTheLinks() throws {
        let snapshot = try LinkHealthTests.snapshot(
            checkpointAgeMs: nil, mirrored: 60, sourceEnd: 100,
            oldestUnmirrored: now - 12_500)
        let verdicts = LinkHealth.assess(
            [snapshot], expected: [LinkHealthTests.eastToWest],
            bounds: .init(maxLagRecords: 10, maxLagMs: 5_000), now: now)
        let lines = StatusText.render([snapshot], verdicts: verdicts, now: now).split(separator: "\n").map(String.init)
        XCTAssertEqual(
            lines[0], "LINK east → west: mode preserve, lag 40 records, last checkpoint none yet, link errors 0")
        XCTAssertEqual(
            lines[2], "  orders  0          60        100         40   12.5         60       0     0           0")
        XCTAssertEqual(
            Array(lines[3...]),
            [
                "  OVER BOUND: orders partition 0 lags 40 records (--max-lag-records 10)",
                "  OVER BOUND: orders partition 0 lags 12.5 s (--max-lag-seconds 5.0)",
                "status: over a lag bound: east → west (exit 3)"
            ])
    }

    func testALinkThatIsNotServedGetsOneLineAndDown() {
        let verdicts = LinkHealth.assess([], expected: [LinkHealthTests.eastToWest], bounds: .init(), now: now)
        XCTAssertEqual(
            StatusText.render([], verdicts: verdicts, now: now),
            """
            LINK east → west: DOWN: not running in the process at the status address (a link of the topology file)
            status: link down or erroring: east → west (exit 2)
            """)
    }

    func testTheOtherProblemsInWords() {
        XCTAssertEqual(StatusText.describe(.notStarted), "DOWN: not started: one of its clusters has not answered yet")
        XCTAssertEqual(
            StatusText.describe(.checkpointsStalled(ageMs: 40_000, boundMs: 35_000)),
            "DOWN: no checkpoint pass succeeded for 40.0 s (bound 35.0 s: 3 checkpoint intervals + 5 s)")
        XCTAssertEqual(
            StatusText.describe(.errorsRising(count: 1)), "ERRORING: 1 new error since the previous snapshot")
        XCTAssertEqual(StatusText.summary([]), "status: ok (no links)")
    }

    func testOnATerminalEachFrameRedrawsInPlace() {
        let screen = StatusText.WatchScreen(isTerminal: true)
        XCTAssertEqual(
            screen.frame("a\nb", header: "H", index: 0),
            "\u{1B}[HH\u{1B}[K\n" + "a\u{1B}[K\n" + "b\u{1B}[K\n" + "\u{1B}[J")
        XCTAssertEqual(screen.frame("a", header: "H", index: 1), "\u{1B}[HH\u{1B}[K\na\u{1B}[K\n\u{1B}[J")
    }

    func testElsewhereFramesFollowEachOtherWithoutEscapeCodes() {
        let screen = StatusText.WatchScreen(isTerminal: false)
        let output = screen.frame("a\nb", header: "H1", index: 0) + screen.frame("c", header: "H2", index: 1)
        XCTAssertEqual(output, "H1\na\nb\n\nH2\nc\n")
        XCTAssertFalse(output.contains("\u{1B}"))
    }

    func testTheWatchHeaderSaysWhatWhenAndHowOften() {
        let at = Date(timeIntervalSince1970: 1_700_000_000)
        XCTAssertEqual(
            StatusText.watchHeader(file: "t.yaml", intervalSeconds: 2, at: at),
            "strait status t.yaml: every 2 s, at 2023-11-14T22:13:20Z (Ctrl-C to stop)")
        XCTAssertEqual(
            StatusText.watchHeader(file: "t.yaml", intervalSeconds: 0.5, at: at),
            "strait status t.yaml: every 0.5 s, at 2023-11-14T22:13:20Z (Ctrl-C to stop)")
    }
}
