import Foundation
import GroupCoordination
import KafkaProtocol
import KafkaRecords
import LogStorage
import NIOCore

/// The internal topic holding consumer-group metadata and committed offsets.
///
/// It is not named `__consumer_offsets` on purpose: its records use Strait's own layout (see
/// `GroupRecord`), not Kafka's, so tools that decode Kafka's offsets topic must not find it under
/// that name. One partition, `cleanup.policy=compact`; clients see it with `isInternal` set and may
/// read it but not write, delete or grow it.
public enum InternalTopics {
    public static let groups = "__strait_groups"
    static let all: Set<String> = [groups]

    static func isInternal(_ name: String) -> Bool { all.contains(name) }
}

/// `GroupStore` on partition 0 of the internal groups topic: each `append` is one uncompressed
/// batch of key/value records (nil value = tombstone), written through the partition like a
/// produce request, so fetches of the topic wake up and the log's flush policy applies.
final class LogGroupStore: GroupStore, @unchecked Sendable {
    let partition: PartitionState
    let now: @Sendable () -> Int64

    init(partition: PartitionState, now: @escaping @Sendable () -> Int64) {
        self.partition = partition
        self.now = now
    }

    func append(_ records: [GroupRecord]) throws {
        guard !records.isEmpty else { return }
        let timestamp = now()
        var builder = RecordBatchBuilder()
        for record in records {
            builder.append(key: record.encodedKey(), value: record.encodedValue(), timestamp: timestamp)
        }
        let batch = try builder.build()
        switch partition.append(batch, now: timestamp) {
        case .appended, .duplicate: return
        case let .rejected(_, message): throw GroupStoreError(message: message)
        }
    }

    /// Every record from the log start, in offset order.
    func loadAll() throws -> [GroupRecord] {
        var records: [GroupRecord] = []
        var offset = partition.log.logStartOffset
        while offset < partition.log.logEndOffset {
            let chunk = try partition.log.read(from: offset, maxBytes: 4 << 20, minOneBatch: true)
            let batches = try RecordBatches.split(chunk.records, verifyCRC: true)
            guard let last = batches.last else { break }
            for batch in batches where !batch.header.isControl {
                for record in try RecordBatchDecoder.records(in: batch) where record.offset >= offset {
                    guard let key = record.key else { continue }
                    records.append(try GroupRecord(key: key, value: record.value))
                }
            }
            offset = last.header.nextOffset
        }
        return records
    }
}

struct GroupStoreError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension Broker {
    /// Opens (creating if needed) the internal groups topic and returns its store.
    func openGroupStore() throws -> LogGroupStore {
        let groupsTopic: TopicState
        if let existing = topic(named: InternalTopics.groups) {
            groupsTopic = existing
        } else {
            do {
                guard
                    let created = try createTopic(
                        name: InternalTopics.groups, partitions: 1,
                        configs: ["cleanup.policy": "compact", "segment.bytes": "\(100 << 20)"])
                else { throw GroupStoreError(message: "internal topic \(InternalTopics.groups) was not created") }
                groupsTopic = created
            } catch {
                throw GroupStoreError(message: "cannot create internal topic \(InternalTopics.groups): \(error)")
            }
        }
        return LogGroupStore(partition: groupsTopic.partitions[0], now: now)
    }

    /// Enforces group session and rebalance timeouts; the server calls this about every 100 ms.
    public func tickGroups() { groups.tick() }

    /// Answers parked JoinGroup/SyncGroup requests with NOT_COORDINATOR so connections can close.
    public func stopCoordinating() { groups.shutdown() }

    func clientInfo(_ header: RequestHeader, _ connection: ConnectionContext) -> ClientInfo {
        // Kafka shows the client's address with a leading slash and no port: "/127.0.0.1".
        ClientInfo(clientId: header.clientId ?? "", clientHost: "/" + connection.remoteHost)
    }
}
