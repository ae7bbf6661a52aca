import Foundation
import KafkaRecords
import NIOCore
import Synchronization
import XCTest
@testable import LogStorage

/// What the threads of a concurrency test report back.
final class ThreadReport: Sendable {
    private let problems = Mutex<[String]>([])
    private let appending = Atomic<Bool>(true)
    private let reads = Atomic<Int>(0)

    func problem(_ text: String) { problems.withLock { if $0.count < 20 { $0.append(text) } } }
    var allProblems: [String] { problems.withLock { $0 } }
    func appenderFinished() { appending.store(false, ordering: .releasing) }
    var isAppending: Bool { appending.load(ordering: .acquiring) }
    func countRead() { reads.add(1, ordering: .relaxed) }
    var readCount: Int { reads.load(ordering: .relaxed) }
}

final class FileLogConcurrencyTests: XCTestCase {
    private let batchCount = 2_000

    /// Reads from random offsets until the appender is done (and at least 200 times), checking
    /// that every read is whole, CRC-valid, contiguous batches starting with the requested offset.
    private static func readRepeatedly(_ log: FileLog, seed: UInt64, report: ThreadReport) {
        var generator = SeededGenerator(seed: seed)
        for iteration in 0..<5_000_000 {
            if !report.isAppending && iteration >= 200 { return }
            let start = log.logStartOffset
            let end = log.logEndOffset
            let offset = Int64.random(in: start...end, using: &generator)
            let maxBytes = Int.random(in: 1...8_192, using: &generator)
            do {
                let result = try log.read(from: offset, maxBytes: maxBytes, minOneBatch: true)
                report.countRead()
                let batches = try RecordBatches.split(result.records, verifyCRC: true)
                if offset < end {
                    guard let first = batches.first else {
                        return report.problem("nothing read at \(offset) below end \(end)")
                    }
                    if !(first.header.baseOffset...first.header.lastOffset).contains(offset) {
                        report.problem(
                            "read at \(offset) began with batch \(first.header.baseOffset)...\(first.header.lastOffset)"
                        )
                    }
                    if batches.count > 1 && result.records.readableBytes > maxBytes {
                        report.problem(
                            "\(batches.count) batches, \(result.records.readableBytes) bytes for maxBytes \(maxBytes)")
                    }
                }
                for (previous, next) in zip(batches, batches.dropFirst())
                where previous.header.nextOffset != next.header.baseOffset {
                    report.problem("gap between \(previous.header.lastOffset) and \(next.header.baseOffset)")
                }
            } catch {
                report.problem("read at \(offset) (log \(start)..<\(end)) failed: \(error)")
            }
        }
        report.problem("reader gave up after its iteration bound")
    }

    func testReadersSeeOnlyWholeValidBatchesWhileAnAppenderWrites() throws {
        let directory = try makeTemporaryDirectory(self)
        let log = try FileLog.open(
            directory: directory, config: LogConfig(segmentBytes: 32 * 1024, retentionMs: -1, indexIntervalBytes: 512),
            now: 0, logger: quietLogger)
        let batches = try (0..<batchCount).map { number in
            try makeBatch(
                "batch-\(number)", records: 1 + number % 4, timestamp: Int64(number), padding: number % 50,
                codec: number % 7 == 0 ? .lz4 : .none)
        }
        let report = ThreadReport()
        let finished = DispatchGroup()
        let count = batchCount

        finished.enter()
        let appender = Thread {
            defer { finished.leave() }
            defer { report.appenderFinished() }
            for batch in batches.prefix(count) {
                do { _ = try log.append(batch, now: 0) } catch { return report.problem("append failed: \(error)") }
            }
        }
        let readers = (0..<2).map { number in
            finished.enter()
            return Thread {
                defer { finished.leave() }
                Self.readRepeatedly(log, seed: UInt64(number + 1), report: report)
            }
        }
        for thread in readers + [appender] { thread.start() }

        XCTAssertEqual(finished.wait(timeout: .now() + 600), .success, "the threads finish")
        XCTAssertEqual(report.allProblems, [])
        XCTAssertGreaterThanOrEqual(report.readCount, 400)
        let all = try readAll(log)
        XCTAssertEqual(all.count, batchCount)
        XCTAssertEqual(
            all.map { Array(bytes(of: $0.bytes).dropFirst(8)) }, batches.map { Array(bytes(of: $0.bytes).dropFirst(8)) }
        )
        XCTAssertGreaterThan(try segmentFileNames(log).count, 3, "the appender rolled segments under the readers")
    }
}
