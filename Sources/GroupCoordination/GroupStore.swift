import Foundation

/// Where the coordinator keeps group metadata and committed offsets. The broker implements it
/// on an internal compacted topic (key and value bytes from `GroupRecord.encodedKey()` /
/// `encodedValue()`).
///
/// Invariants the coordinator relies on:
/// - `append` is durable when it returns; if it throws, none of the records may be replayed
///   later (the coordinator reports the failure to the client and does not apply the change).
/// - `loadAll` returns records in append order. It may return every record ever appended or a
///   compacted subset (at least the latest record per key): the coordinator replays in order, so
///   the latest value per key wins and tombstones delete.
public protocol GroupStore: Sendable {
    func append(_ records: [GroupRecord]) throws
    func loadAll() throws -> [GroupRecord]
}

/// A `GroupStore` in memory, for tests and for brokers that do not persist groups. It keeps every
/// record in append order (like an uncompacted log) and can be told to fail appends.
public final class InMemoryGroupStore: GroupStore, @unchecked Sendable {
    private let lock = NSLock()
    private var log: [GroupRecord] = []
    private var failure: (any Error)?

    public init(records: [GroupRecord] = []) {
        self.log = records
    }

    public func append(_ records: [GroupRecord]) throws {
        try lock.withLock {
            if let failure { throw failure }
            log.append(contentsOf: records)
        }
    }

    public func loadAll() throws -> [GroupRecord] {
        lock.withLock { log }
    }

    /// Every record appended so far, in order.
    public var records: [GroupRecord] {
        lock.withLock { log }
    }

    /// The latest record per key, in the order of their last append (what compaction keeps,
    /// tombstones included).
    public var compacted: [GroupRecord] {
        lock.withLock {
            var latestIndex: [GroupRecordKey: Int] = [:]
            for (index, record) in log.enumerated() { latestIndex[record.key] = index }
            return log.enumerated().filter { latestIndex[$0.element.key] == $0.offset }.map(\.element)
        }
    }

    /// Makes every following `append` throw `error` (nil: succeed again).
    public func failAppends(with error: (any Error)?) {
        lock.withLock { failure = error }
    }
}
