import KafkaRecords
import NIOCore
import Synchronization
import XCTest
@testable import LogStorage

/// How many more bytes the "disk" accepts; nil means no limit.
final class WriteBudget: Sendable {
    private let remaining = Mutex<Int?>(nil)

    func set(_ bytes: Int?) { remaining.withLock { $0 = bytes } }

    /// Takes up to `count` bytes from the budget and returns how many were granted.
    func take(_ count: Int) -> Int {
        remaining.withLock { remaining in
            guard let left = remaining else { return count }
            let granted = min(left, count)
            remaining = left - granted
            return granted
        }
    }
}

/// The names of the files fsynced, in order.
final class SyncLog: Sendable {
    private let names = Mutex<[String]>([])
    func record(_ name: String) { names.withLock { $0.append(name) } }
    /// Takes the names recorded so far.
    func drain() -> [String] {
        names.withLock { names in
            defer { names = [] }; return names
        }
    }
}

/// A file whose writes stop with ENOSPC once the budget is used up, after writing the part that
/// still fitted (as a real disk filling up in the middle of a write does).
final class FillingFile: LogFile, Sendable {
    let base: any LogFile
    let budget: WriteBudget
    let name: String
    let syncs: SyncLog

    init(base: any LogFile, budget: WriteBudget, name: String, syncs: SyncLog) {
        self.base = base
        self.budget = budget
        self.name = name
        self.syncs = syncs
    }

    func read(into buffer: inout ByteBuffer, count: Int, at offset: Int64) throws(LogError) -> Int {
        try base.read(into: &buffer, count: count, at: offset)
    }

    func write(_ parts: [UnsafeRawBufferPointer], at offset: Int64) throws(LogError) {
        let total = parts.reduce(0) { $0 + $1.count }
        let granted = budget.take(total)
        guard granted < total else { return try base.write(parts, at: offset) }
        var fitting: [UnsafeRawBufferPointer] = []
        var left = granted
        for part in parts where left > 0 {
            let length = min(left, part.count)
            fitting.append(UnsafeRawBufferPointer(rebasing: part[0..<length]))
            left -= length
        }
        if granted > 0 { try base.write(fitting, at: offset) }
        throw .storage("write: No space left on device")
    }

    func truncate(to size: Int64) throws(LogError) { try base.truncate(to: size) }
    func size() throws(LogError) -> Int64 { try base.size() }
    func sync() throws(LogError) {
        syncs.record(name)
        try base.sync()
    }
}

/// A real directory whose files share one write budget and report their fsyncs.
struct FillingFileSystem: LogFileSystem {
    let base: PosixFileSystem
    let budget: WriteBudget
    var syncs = SyncLog()

    func createDirectoryIfNeeded() throws(LogError) { try base.createDirectoryIfNeeded() }
    func list() throws(LogError) -> [String] { try base.list() }
    func open(_ name: String) throws(LogError) -> any LogFile {
        FillingFile(base: try base.open(name), budget: budget, name: name, syncs: syncs)
    }
    func exists(_ name: String) -> Bool { base.exists(name) }
    func remove(_ name: String) throws(LogError) { try base.remove(name) }
    func readSmallFile(_ name: String) throws(LogError) -> [UInt8]? { try base.readSmallFile(name) }
    func replaceAtomically(_ name: String, with contents: [UInt8]) throws(LogError) {
        guard budget.take(contents.count) == contents.count else {
            throw .storage("replace \(name): No space left on device")
        }
        try base.replaceAtomically(name, with: contents)
    }
    func syncDirectory() throws(LogError) { try base.syncDirectory() }
    func rename(_ source: String, to target: String) throws(LogError) { try base.rename(source, to: target) }
}

final class FileLogDiskFullTests: XCTestCase {
    private func batch(_ number: Int) throws -> StoredBatch {
        try makeBatch("batch-\(number)", records: 2, timestamp: 1_000 + Int64(number))
    }

    /// A directory where the same appends happened on a disk that never filled up.
    private func referenceDirectory(_ config: LogConfig) throws -> [String: [UInt8]] {
        let directory = try makeTemporaryDirectory(self)
        let log = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
        for number in 0..<5 { _ = try log.append(batch(number), now: 0) }
        try log.close()
        return try directoryContents(directory)
    }

    /// Fails batch 3's append at every byte of the `needed` bytes it writes and checks that the
    /// log is unchanged, that it recovers once space is back, and that the files end up exactly
    /// as on a disk that never filled up.
    private func checkEveryFailurePoint(
        segmentBytes: Int, needed: Int, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let config = LogConfig(segmentBytes: segmentBytes, retentionMs: -1, indexIntervalBytes: 1)
        let reference = try referenceDirectory(config)
        let third = try batch(3)
        var failures = 0
        for budget in 0...needed {
            let directory = try makeTemporaryDirectory(self)
            let disk = WriteBudget()
            let log = try FileLog(
                fileSystem: FillingFileSystem(base: PosixFileSystem(directory: directory), budget: disk),
                config: config, now: 0, logger: quietLogger)
            for number in 0..<3 { _ = try log.append(batch(number), now: 0) }
            let endBefore = log.logEndOffset
            let bytesBefore = try readAllBytes(log)
            let filesBefore = try directoryContents(directory).filter { !$0.value.isEmpty }

            disk.set(budget)
            do {
                _ = try log.append(third, now: 0)
                XCTAssertEqual(budget, needed, "an append that did not fit succeeded", file: file, line: line)
                disk.set(nil)
            } catch {
                failures += 1
                XCTAssertEqual(error, .storage("write: No space left on device"), file: file, line: line)
                XCTAssertEqual(log.logEndOffset, endBefore, "budget \(budget)", file: file, line: line)
                XCTAssertEqual(try readAllBytes(log), bytesBefore, "budget \(budget)", file: file, line: line)
                XCTAssertEqual(
                    try directoryContents(directory).filter { !$0.value.isEmpty }, filesBefore,
                    "the partial write was cut off every file (budget \(budget))", file: file, line: line)
                disk.set(nil)
                XCTAssertEqual(
                    try log.append(third, now: 0).baseOffset, endBefore, "budget \(budget)", file: file, line: line)
            }
            XCTAssertEqual(try log.append(batch(4), now: 0).baseOffset, endBefore + 2, file: file, line: line)
            try log.close()
            XCTAssertEqual(
                try directoryContents(directory), reference, "no garbage left by the failed append (budget \(budget))",
                file: file, line: line)

            let reopened = try FileLog.open(directory: directory, config: config, now: 0, logger: quietLogger)
            XCTAssertEqual(reopened.logEndOffset, endBefore + 4, file: file, line: line)
        }
        XCTAssertEqual(failures, needed, "every budget short of the full append failed", file: file, line: line)
    }

    func testAFullDiskDuringAnAppendLeavesTheLogAsItWas() throws {
        // The batch, an offset index entry (8 bytes) and a time index entry (12 bytes).
        try checkEveryFailurePoint(segmentBytes: 1 << 20, needed: try batch(3).bytes.readableBytes + 8 + 12)
    }

    func testAFullDiskDuringTheFirstAppendToANewSegmentLeavesTheLogAsItWas() throws {
        // Three batches fill a segment, so batch 3 rolls first and, being first, gets no index entry.
        let size = try batch(0).bytes.readableBytes
        try checkEveryFailurePoint(segmentBytes: 3 * size, needed: size)
    }

    func testAFullDiskDuringDeleteRecordsKeepsTheOldLogStart() throws {
        let directory = try makeTemporaryDirectory(self)
        let disk = WriteBudget()
        let log = try FileLog(
            fileSystem: FillingFileSystem(base: PosixFileSystem(directory: directory), budget: disk),
            config: LogConfig(), now: 0, logger: quietLogger)
        for number in 0..<3 { _ = try log.append(batch(number), now: 0) }
        disk.set(0)
        XCTAssertThrowsError(try log.deleteRecords(before: 4))
        XCTAssertEqual(log.logStartOffset, 0)
        disk.set(nil)
        XCTAssertEqual(try log.deleteRecords(before: 4), 4)
    }
}
