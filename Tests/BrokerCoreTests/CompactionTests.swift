import BrokerCore
import KafkaRecords
import LogStorage
import NIOCore
import XCTest

final class BrokerCompactionTests: XCTestCase {
    /// Produces `value` under `key`, one segment per call (the clock passes segment.ms first).
    private func put(_ client: BrokerHarness, _ topic: String, _ key: String, _ value: String) async throws {
        client.clock.advance(by: 10)
        let response = try await client.produce(
            topic, batch: try batch([value], key: key, timestamp: client.clock.milliseconds))
        XCTAssertEqual(response.errorCode, 0)
    }

    /// Every record from offset 0 to the high watermark (one fetch returns one segment's batches).
    private func fetchAll(_ client: BrokerHarness, _ topic: String) async throws -> [Record] {
        var records: [Record] = []
        var next: Int64 = 0
        for _ in 0..<100 {
            let fetched = try await client.fetch(topic, offset: next)
            guard let last = try RecordBatches.split(fetched.records ?? ByteBuffer(), verifyCRC: true).last else {
                break
            }
            records += try client.records(in: fetched.records)
            next = last.header.nextOffset
        }
        return records
    }

    func testTheCleanerCompactsOnlyCompactedTopicsAndOnlyWhenThereIsSomethingNew() async throws {
        let client = try BrokerHarness()
        for (topic, policy) in [("latest", "compact"), ("history", "delete")] {
            let created = try await client.createTopic(
                topic, configs: ["cleanup.policy": policy, "segment.ms": "1", "min.cleanable.dirty.ratio": "0.1"])
            XCTAssertEqual(created.errorCode, 0)
            for (key, value) in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2"), ("c", "c1")] {
                try await put(client, topic, key, value)
            }
        }
        XCTAssertEqual(client.broker.compactLogs(), 1)
        // b2 and c1 were kept; a2 too (c1, the newest, sits in the active segment).
        let latest = try await fetchAll(client, "latest")
        XCTAssertEqual(latest.map(\.offset), [2, 3, 4])
        XCTAssertEqual(strings(latest), ["a2", "b2", "c1"])
        let history = try await fetchAll(client, "history")
        XCTAssertEqual(strings(history), ["a1", "b1", "a2", "b2", "c1"])

        XCTAssertEqual(client.broker.compactLogs(), 0, "nothing new since the last pass")
        try await put(client, "latest", "a", "a3")
        try await put(client, "latest", "d", "d1")
        XCTAssertEqual(client.broker.compactLogs(), 1, "the segments holding c1 and a3 were rolled")
        let after = try await fetchAll(client, "latest")
        XCTAssertEqual(strings(after), ["b2", "c1", "a3", "d1"])
    }

    func testCompactionConfigsAreValidatedAndMapToOptions() async throws {
        let client = try BrokerHarness()
        let bad = try await client.createTopic(
            "bad", configs: ["cleanup.policy": "compact", "min.cleanable.dirty.ratio": "1.5"])
        XCTAssertEqual(bad.errorCode, 40)  // INVALID_CONFIG
        let configs = TopicConfigs(overrides: [
            "delete.retention.ms": "5", "min.compaction.lag.ms": "7",
            "min.cleanable.dirty.ratio": "0.25"
        ])
        XCTAssertEqual(
            configs.compactionOptions(broker: BrokerConfig()),
            CompactionOptions(
                deleteRetentionMs: 5, minCompactionLagMs: 7, maxCompactionLagMs: Int64.max, minCleanableDirtyRatio: 0.25
            ))
        XCTAssertEqual(TopicConfigs().compactionOptions(broker: BrokerConfig()), CompactionOptions())
    }
}
