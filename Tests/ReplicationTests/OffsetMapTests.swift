import Replication
import XCTest

final class OffsetMapTests: XCTestCase {
    func testHealthyLinkKeepsOneRun() {
        var map = OffsetMap()
        XCTAssertEqual(map.record(sourceStart: 100, targetStart: 0, count: 10), .newRun(.first))
        XCTAssertEqual(map.record(sourceStart: 110, targetStart: 10, count: 5), .extended)
        XCTAssertEqual(map.record(SourceOffsets(115..<200), targetBaseOffset: 15), [.extended])
        XCTAssertEqual(map.runs, [OffsetRun(sourceStart: 100, targetStart: 0, length: 100)])
        XCTAssertNil(map.checkInvariants())
    }

    func testTranslateTranscript() {
        // Source 0..<10 -> target 0..<10; source 10..<15 compacted away; 15..<20 -> 10..<15;
        // source 20 a transaction marker; 21..<25 -> 15..<19.
        var map = OffsetMap()
        map.record(sourceStart: 0, targetStart: 0, count: 10)
        XCTAssertEqual(map.record(sourceStart: 15, targetStart: 10, count: 5), .newRun(.sourceGap))
        XCTAssertEqual(map.record(sourceStart: 21, targetStart: 15, count: 4), .newRun(.sourceGap))
        XCTAssertEqual(map.runs.count, 3)
        XCTAssertEqual(map.translate(0), 0)
        XCTAssertEqual(map.translate(9), 9)
        XCTAssertEqual(map.translate(10), 10, "10..<15 were never mirrored: the next mirrored record is 15 at 10")
        XCTAssertEqual(map.translate(14), 10)
        XCTAssertEqual(map.translate(15), 10)
        XCTAssertEqual(map.translate(19), 14)
        XCTAssertEqual(map.translate(20), 15)
        XCTAssertEqual(map.translate(24), 18)
        XCTAssertEqual(map.translate(25), 19, "one past the newest mirrored record: the target end")
        XCTAssertNil(map.translate(26), "not mirrored yet: unknown")
        XCTAssertNil(map.translate(-1))
        XCTAssertEqual(map.sourceEnd, 25)
        XCTAssertEqual(map.targetEnd, 19)
    }

    func testBelowOldestRunIsUnknown() {
        var map = OffsetMap()
        map.record(sourceStart: 500, targetStart: 0, count: 10)
        XCTAssertNil(map.translate(499))
        XCTAssertEqual(map.translate(500), 0)
        XCTAssertNil(OffsetMap().translate(0))
    }

    func testTargetGapAndRegression() {
        var map = OffsetMap()
        map.record(sourceStart: 0, targetStart: 0, count: 10)
        XCTAssertEqual(map.record(sourceStart: 10, targetStart: 12, count: 5), .newRun(.targetGap))
        XCTAssertEqual(map.translate(10), 12)
        XCTAssertEqual(
            map.record(sourceStart: 15, targetStart: 3, count: 1),
            .rejectedTargetRegressed(targetStart: 3, targetEnd: 17))
        XCTAssertEqual(map.record(sourceStart: 15, targetStart: 17, count: 0), .empty)
        XCTAssertEqual(map.runs.count, 2)
    }

    func testDuplicatesAfterRestartTranslateToNewestCopies() {
        // Mirrored source 0..<100 at 0..<100, then a restart re-mirrored from 90: 90..<150 at 100..<160.
        var map = OffsetMap()
        map.record(sourceStart: 0, targetStart: 0, count: 100)
        XCTAssertEqual(map.record(sourceStart: 90, targetStart: 100, count: 60), .newRun(.sourceRewind))
        XCTAssertNil(map.checkInvariants())
        XCTAssertEqual(map.translate(50), 50, "50..<90 only exist in the first copy")
        XCTAssertEqual(map.translate(90), 100, "the newest copy of 90 onwards")
        XCTAssertEqual(map.translate(95), 105)
        XCTAssertEqual(map.translate(150), 160)
        XCTAssertNil(map.translate(151))
    }

    func testPruneKeepingAtMost() {
        var map = OffsetMap()
        map.record(sourceStart: 0, targetStart: 0, count: 10)
        map.record(sourceStart: 20, targetStart: 10, count: 10)
        map.record(sourceStart: 40, targetStart: 20, count: 10)
        map.prune(keepingAtMost: 2)
        XCTAssertEqual(map.runs.count, 2)
        XCTAssertEqual(map.sourceFloor, 10)
        XCTAssertNil(map.translate(9))
        XCTAssertEqual(map.translate(10), 10, "10..<20 were not mirrored: still exact")
        XCTAssertEqual(map.translate(45), 25)
        map.prune(keepingAtMost: 0)
        XCTAssertTrue(map.isEmpty)
        XCTAssertNil(map.translate(45))
    }

    func testPruneKeepsFloorLowWhenDroppedOffsetsHaveNewerCopies() {
        var map = OffsetMap()
        map.record(sourceStart: 0, targetStart: 0, count: 100)
        map.record(sourceStart: 50, targetStart: 100, count: 100)  // restart re-mirrored 50..<100
        map.prune(keepingAtMost: 1)
        XCTAssertEqual(map.sourceFloor, 50, "0..<50 lost their only copy; 50..<100 have newer ones")
        XCTAssertEqual(map.translate(50), 100)
        XCTAssertNil(map.translate(49))
    }

    func testPruneBySourceLogStart() {
        var map = OffsetMap()
        map.record(sourceStart: 0, targetStart: 0, count: 10)
        map.record(sourceStart: 20, targetStart: 10, count: 10)
        map.prune(sourceLogStart: 15)
        XCTAssertEqual(map.runs, [OffsetRun(sourceStart: 20, targetStart: 10, length: 10)])
        XCTAssertNil(map.translate(14))
        XCTAssertEqual(map.translate(15), 10)
        map.prune(sourceLogStart: 25)
        XCTAssertEqual(map.runs.count, 1, "partly below the log start: kept")
        XCTAssertNil(map.translate(24))
        XCTAssertEqual(map.translate(25), 15)
    }

    func testRebuildFromEmittedSyncs() {
        var emitter = OffsetSyncEmitter(
            topic: "orders", partition: 0, maxRecordsBetweenSyncs: 1000, maxIntervalMs: 60_000)
        var syncs: [OffsetSync] = []
        syncs += emitter.written(SourceOffsets(0..<100), targetBaseOffset: 0, now: 0)
        XCTAssertEqual(syncs, [OffsetSync(topic: "orders", partition: 0, upstreamOffset: 0, downstreamOffset: 0)])
        syncs += emitter.written(SourceOffsets(100..<200), targetBaseOffset: 100, now: 1)
        XCTAssertEqual(syncs.count, 1, "a continuing batch needs no sync")
        var gapped = SourceOffsets()
        gapped.append(250)
        gapped.append(251)
        gapped.append(260)
        let new = emitter.written(gapped, targetBaseOffset: 200, now: 2)
        XCTAssertEqual(
            new.map { [$0.upstreamOffset, $0.downstreamOffset] }, [[199, 199], [250, 200], [251, 201], [260, 202]])
        syncs += new
        syncs += emitter.written(SourceOffsets(261..<300), targetBaseOffset: 203, now: 3)
        syncs += emitter.flush(now: 4)
        XCTAssertEqual(
            syncs.last, OffsetSync(topic: "orders", partition: 0, upstreamOffset: 299, downstreamOffset: 241))
        XCTAssertEqual(emitter.flush(now: 5), [])

        var map = OffsetMap()
        map.record(SourceOffsets(0..<200), targetBaseOffset: 0)
        map.record(gapped, targetBaseOffset: 200)
        map.record(SourceOffsets(261..<300), targetBaseOffset: 203)
        XCTAssertEqual(OffsetMap(rebuiltFrom: syncs), map)
    }

    func testPeriodicSyncsByRecordsAndTime() {
        var emitter = OffsetSyncEmitter(topic: "t", partition: 1, maxRecordsBetweenSyncs: 150, maxIntervalMs: 1000)
        XCTAssertEqual(emitter.written(SourceOffsets(0..<100), targetBaseOffset: 0, now: 0).count, 1)
        XCTAssertEqual(emitter.written(SourceOffsets(100..<140), targetBaseOffset: 100, now: 10), [])
        XCTAssertEqual(
            emitter.written(SourceOffsets(140..<160), targetBaseOffset: 140, now: 20).map(\.upstreamOffset), [159])
        XCTAssertEqual(emitter.written(SourceOffsets(160..<170), targetBaseOffset: 160, now: 30), [])
        XCTAssertEqual(emitter.tick(now: 500), [])
        XCTAssertEqual(emitter.tick(now: 1020).map(\.upstreamOffset), [169])
        XCTAssertEqual(emitter.tick(now: 5000), [], "nothing new")
    }

    func testRebuildResetsOnMarkerAndTargetRegression() {
        var emitter = OffsetSyncEmitter(topic: "t", partition: 0)
        var syncs = emitter.written(SourceOffsets(0..<10), targetBaseOffset: 0, now: 0)
        syncs += emitter.flush(now: 0)
        syncs += emitter.sourceReset(targetEndOffset: 10, now: 1)
        syncs += emitter.written(SourceOffsets(0..<5), targetBaseOffset: 10, now: 2)
        syncs += emitter.flush(now: 3)
        XCTAssertEqual(OffsetMap(rebuiltFrom: syncs).runs, [OffsetRun(sourceStart: 0, targetStart: 10, length: 5)])

        let regressed = [
            OffsetSync(topic: "t", partition: 0, upstreamOffset: 0, downstreamOffset: 50),
            OffsetSync(topic: "t", partition: 0, upstreamOffset: 9, downstreamOffset: 59),
            OffsetSync(topic: "t", partition: 0, upstreamOffset: 10, downstreamOffset: 0)
        ]
        XCTAssertEqual(OffsetMap(rebuiltFrom: regressed).runs, [OffsetRun(sourceStart: 10, targetStart: 0, length: 1)])
        // The same sync twice (re-emitted after a restart) changes nothing.
        let repeated = [regressed[0], regressed[1], regressed[1]]
        XCTAssertEqual(OffsetMap(rebuiltFrom: repeated).runs, [OffsetRun(sourceStart: 0, targetStart: 50, length: 10)])
    }

    // MARK: Property-style

    /// A reference model: every mirrored (source, target) pair, in write order.
    struct Model {
        var pairs: [(source: Int64, target: Int64)] = []

        /// min over mirrored s >= o of the latest target holding s; end rule above.
        func translate(_ o: Int64) -> Int64? {
            guard let lowest = pairs.map(\.source).min(), o >= lowest else { return nil }
            let end = pairs.map(\.source).max()! + 1
            if o > end { return nil }
            if o == end { return pairs.last!.target + 1 }
            var latest: [Int64: Int64] = [:]
            for pair in pairs { latest[pair.source] = pair.target }
            return latest.filter { $0.key >= o }.values.min()
        }
    }

    func testRandomGapsAndRestartsAgainstModel() {
        var rng = SplitMix64(seed: 0x5EED)
        for round in 0..<200 {
            var map = OffsetMap()
            var model = Model()
            var emitter = OffsetSyncEmitter(
                topic: "t", partition: 0, maxRecordsBetweenSyncs: Int64(rng.next() % 50 + 1), maxIntervalMs: 1_000_000)
            var syncs: [OffsetSync] = []
            var source: Int64 = Int64(rng.next() % 20)
            var target: Int64 = Int64(rng.next() % 5)
            let allowRewind = round % 2 == 0
            let denseTarget = round % 4 < 2
            for step in 0..<Int(rng.next() % 30 + 1) {
                var offsets = SourceOffsets()
                for _ in 0..<Int(rng.next() % 8 + 1) {
                    if rng.next() % 4 == 0 { source += Int64(rng.next() % 5) }  // compaction / markers / loop records
                    offsets.append(source)
                    source += 1
                }
                map.record(offsets, targetBaseOffset: target)
                syncs += emitter.written(offsets, targetBaseOffset: target, now: Int64(step))
                for range in offsets.ranges {
                    for s in range { model.pairs.append((s, target)); target += 1 }
                }
                if !denseTarget, rng.next() % 3 == 0 { target += Int64(rng.next() % 3 + 1) }  // other writers
                if allowRewind, rng.next() % 6 == 0 { source = max(0, source - Int64(rng.next() % 15)) }  // restart
            }
            syncs += emitter.flush(now: 1000)
            XCTAssertNil(map.checkInvariants(), "round \(round)")
            let maxSource = model.pairs.map(\.source).max()! + 5
            for o in -1...maxSource {
                XCTAssertEqual(map.translate(o), model.translate(o), "round \(round) offset \(o) runs \(map.runs)")
            }
            // Rebuilt from its own syncs, the map translates the same (dense target: no ambiguity).
            if denseTarget {
                let rebuilt = OffsetMap(rebuiltFrom: syncs)
                XCTAssertEqual(rebuilt, map, "round \(round)")
            }
            // Pruning never makes a translation wrong, only unknown.
            var pruned = map
            pruned.prune(keepingAtMost: Int(rng.next() % 4))
            XCTAssertNil(pruned.checkInvariants())
            for o in -1...maxSource {
                if let answer = pruned.translate(o) {
                    XCTAssertEqual(answer, model.translate(o), "round \(round) pruned, offset \(o)")
                }
            }
            if let floor = pruned.lowestTranslatable {
                for o in floor...maxSource where o <= pruned.sourceEnd! {
                    XCTAssertEqual(pruned.translate(o), model.translate(o), "round \(round) above floor, offset \(o)")
                }
            }
        }
    }

    func testHealthyRandomBatchesAlwaysOneRun() {
        var rng = SplitMix64(seed: 42)
        var map = OffsetMap()
        var source: Int64 = 1000
        for _ in 0..<500 {
            let count = Int64(rng.next() % 500 + 1)
            map.record(sourceStart: source, targetStart: source - 1000, count: count)
            source += count
        }
        XCTAssertEqual(map.runs.count, 1)
        XCTAssertEqual(map.translate(source), source - 1000)
    }
}

/// A small deterministic generator so that failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
