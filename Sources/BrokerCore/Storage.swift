import Foundation
import Logging
import LogStorage
import DurableFile

/// Where partition logs and broker metadata live: files under the data directory, or memory.
public protocol BrokerStorage: Sendable {
    func openLog(topic: String, partition: Int32, config: LogConfig, now: Int64) throws -> any PartitionLog
    func deleteLog(topic: String, partition: Int32) throws
    func loadMetadata() throws -> BrokerMetadataSnapshot?
    func saveMetadata(_ snapshot: BrokerMetadataSnapshot) throws
    /// Where credential and ACL files live; nil keeps them in memory.
    var securityDirectory: URL? { get }
}

extension BrokerStorage {
    public var securityDirectory: URL? { nil }
}

/// The broker's own durable state: cluster id, topics, and the producer-id high-water mark.
public struct BrokerMetadataSnapshot: Codable, Sendable, Equatable {
    public struct TopicRecord: Codable, Sendable, Equatable {
        public var idHigh: UInt64
        public var idLow: UInt64
        public var partitions: Int32
        public var configs: TopicConfigs
        /// Per partition, where producer state is rebuilt from (a promoted mirror's log end at
        /// promotion); nil when every partition starts at 0.
        public var producerStateStarts: [Int64]? = nil
    }

    public var clusterId: String
    public var topics: [String: TopicRecord]
    /// Producer ids below this may have been handed out; new ids start here.
    public var producerIdLimit: Int64

    public init(clusterId: String, topics: [String: TopicRecord] = [:], producerIdLimit: Int64 = 0) {
        self.clusterId = clusterId
        self.topics = topics
        self.producerIdLimit = producerIdLimit
    }
}

/// Partition logs in `<data-dir>/<topic>-<partition>/`, metadata in `<data-dir>/strait-metadata.json`.
public struct FileBrokerStorage: BrokerStorage {
    public let directory: URL
    public var securityDirectory: URL? { directory }
    let logger: Logger

    public init(directory: String, logger: Logger) throws {
        self.directory = URL(fileURLWithPath: directory, isDirectory: true)
        self.logger = logger
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    func partitionDirectory(_ topic: String, _ partition: Int32) -> URL {
        directory.appendingPathComponent("\(topic)-\(partition)", isDirectory: true)
    }

    public func openLog(topic: String, partition: Int32, config: LogConfig, now: Int64) throws -> any PartitionLog {
        var logger = logger
        logger[metadataKey: "partition"] = "\(topic)-\(partition)"
        return try FileLog.open(
            directory: partitionDirectory(topic, partition).path, config: config, now: now, logger: logger)
    }

    public func deleteLog(topic: String, partition: Int32) throws {
        let dir = partitionDirectory(topic, partition)
        if FileManager.default.fileExists(atPath: dir.path) {
            try FileManager.default.removeItem(at: dir)
        }
    }

    var metadataFile: URL { directory.appendingPathComponent("strait-metadata.json") }

    public func loadMetadata() throws -> BrokerMetadataSnapshot? {
        guard FileManager.default.fileExists(atPath: metadataFile.path) else { return nil }
        let data = try Data(contentsOf: metadataFile)
        return try JSONDecoder().decode(BrokerMetadataSnapshot.self, from: data)
    }

    /// Replaced atomically (`AtomicFile`), so a crash leaves either the old or the new metadata,
    /// never a torn file.
    public func saveMetadata(_ snapshot: BrokerMetadataSnapshot) throws {
        BlockingIOThreads.assertMayBlock("saving \(metadataFile.path)")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(snapshot)), to: metadataFile.path)
    }
}

/// Everything in memory: for tests of the request handlers.
public final class InMemoryBrokerStorage: BrokerStorage, @unchecked Sendable {
    private let lock = NSLock()
    private var snapshot: BrokerMetadataSnapshot?

    public init() {}

    public func openLog(topic: String, partition: Int32, config: LogConfig, now: Int64) throws -> any PartitionLog {
        InMemoryLog(config: config)
    }

    public func deleteLog(topic: String, partition: Int32) throws {}

    public func loadMetadata() throws -> BrokerMetadataSnapshot? { lock.withLock { snapshot } }

    public func saveMetadata(_ snapshot: BrokerMetadataSnapshot) throws { lock.withLock { self.snapshot = snapshot } }
}
