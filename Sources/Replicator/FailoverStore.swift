import Foundation
import KafkaClient
import Replication

/// Failover records at a site: `strait-failovers.internal`, one partition, kept forever, keyed
/// `from->to` (the latest record of a key is the state of that direction). A name ending in
/// `.internal` is internal to MirrorMaker 2's policy and to ours, so no link mirrors it.
///
/// A record's value is the `FailoverRecord` as JSON; failback will write an empty value (a
/// tombstone) for the key once the direction is failed back.
public enum FailoverStore {
    public static let topic = "strait-failovers.internal"

    /// The latest failover record per `from->to` key at the cluster (keys whose latest value is
    /// empty are failed back and left out). A cluster without the topic has none.
    public static func records(at cluster: KafkaCluster) async throws -> [String: FailoverRecord] {
        let metadata = try await cluster.refreshMetadata(topics: [topic])
        guard let entry = metadata.topics[topic], entry.error == .none else { return [:] }
        var latest: [String: FailoverRecord?] = [:]
        let decoder = JSONDecoder()
        for (key, value) in try await cluster.readBookkeepingTopic(topic) {
            guard let key else { continue }
            let name = String(decoding: key, as: UTF8.self)
            guard let value, !value.isEmpty else {
                latest[name] = .some(nil)
                continue
            }
            do {
                latest[name] = .some(try decoder.decode(FailoverRecord.self, from: Data(value)))
            } catch {
                throw ReplicatorError.target("the record \(name) of \(topic) is not a failover record: \(error)")
            }
        }
        return latest.compactMapValues { $0 }
    }

    /// The standing failover from `from` to `to` at the cluster (`to`'s), if any.
    public static func standing(from: String, to: String, at cluster: KafkaCluster) async throws -> FailoverRecord? {
        try await records(at: cluster)[FailoverRecord.key(from: from, to: to)]
    }

    /// Appends the record (acks=all), creating the topic when missing.
    public static func write(_ record: FailoverRecord, at cluster: KafkaCluster) async throws {
        try await cluster.ensureBookkeepingTopic(topic, configs: ["cleanup.policy": "delete", "retention.ms": "-1"])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let value = try encoder.encode(record)
        try await cluster.writeBookkeeping(
            topic, records: [(Array(FailoverRecord.key(from: record.from, to: record.to).utf8), Array(value))],
            now: record.promotedAtMs)
    }
}
