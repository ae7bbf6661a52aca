import BrokerCore
import Foundation
import KafkaProtocol
import KafkaRecords
import Logging
import NIOCore
import XCTest

/// A batch as a source broker stores it: at `offset`, with the source's leader epoch.
func sourceBatch(
    _ values: [String], at offset: Int64, codec: CompressionCodec = .none, epoch: Int32 = 7,
    producerId: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1,
    transactional: Bool = false, control: Bool = false
) throws -> StoredBatch {
    var builder = RecordBatchBuilder(
        baseOffset: offset, codec: codec, partitionLeaderEpoch: epoch, producerId: producerId,
        producerEpoch: producerEpoch, baseSequence: baseSequence,
        isTransactional: transactional, isControl: control)
    for (i, value) in values.enumerated() {
        builder.append(key: Array("k\(i)".utf8), value: Array(value.utf8), timestamp: 1_700_000_000_000 + Int64(i))
    }
    return try builder.build()
}

func concatenated(_ batches: [StoredBatch]) -> ByteBuffer {
    var buffer = ByteBuffer()
    for batch in batches { buffer.writeImmutableBuffer(batch.bytes) }
    return buffer
}

func bytes(_ buffer: ByteBuffer?) -> [UInt8] {
    guard let buffer else { return [] }
    return buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? []
}

extension BrokerHarness {
    func mirrorAppend(
        _ topic: String, partition: Int32 = 0, _ batches: [StoredBatch], sourceLogStartOffset: Int64 = -1,
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> StraitMirrorAppendResponse.MirrorAppendPartitionResponse {
        let response = try await send(
            StraitMirrorAppendRequest(
                timeoutMs: 1000,
                topics: [
                    .init(
                        name: topic,
                        partitions: [
                            .init(
                                partitionIndex: partition, sourceLogStartOffset: sourceLogStartOffset,
                                records: batches.isEmpty ? nil : concatenated(batches))
                        ])
                ]), version: 0, file: file, line: line)
        XCTAssertEqual(response.topics.map(\.name), [topic], file: file, line: line)
        return response.topics[0].partitions[0]
    }

    func createMirror(_ name: String, source: String = "east", partitions: Int32 = 1, configs: [String: String] = [:])
        async throws
    {
        var configs = configs
        configs["strait.mirror.source"] = source
        let created = try await createTopic(name, partitions: partitions, configs: configs)
        XCTAssertEqual(created.errorCode, 0, created.errorMessage ?? "")
    }

    func setConfig(_ topic: String, _ name: String, _ value: String?) async throws
        -> IncrementalAlterConfigsResponse.AlterConfigsResourceResponse
    {
        let response = try await send(
            IncrementalAlterConfigsRequest(
                resources: [
                    .init(
                        resourceType: 2, resourceName: topic,
                        configs: [.init(name: name, configOperation: value == nil ? 1 : 0, value: value)])
                ], validateOnly: false), version: 1)
        return response.responses[0]
    }

    func fetchAll(_ topic: String, partition: Int32 = 0, from offset: Int64) async throws -> FetchResponse.PartitionData
    {
        try await fetch(topic, partition: partition, offset: offset, maxBytes: 64 << 20)
    }
}

final class MirrorTopicTests: XCTestCase {
    func testTheApiIsAdvertisedAtVersionZeroOnly() async throws {
        let client = try BrokerHarness()
        let response = try await client.send(
            ApiVersionsRequest(clientSoftwareName: "test", clientSoftwareVersion: "1"), version: 3)
        let mirror = response.apiKeys.first { $0.apiKey == 20000 }
        XCTAssertEqual(mirror.map { $0.minVersion...$0.maxVersion }, 0...0)
        XCTAssertEqual(APIKey.straitMirrorAppend.rawValue, 20000)
    }

    func testBatchesKeepTheirSourceOffsetsAndBytes() async throws {
        let client = try BrokerHarness()
        try await client.createMirror("orders.east")
        let batches = [
            try sourceBatch(["a", "b", "c"], at: 0), try sourceBatch(["d", "e"], at: 3, codec: .lz4),
            try sourceBatch(["f"], at: 5, codec: .zstd, epoch: 9)
        ]
        let result = try await client.mirrorAppend("orders.east", batches)
        XCTAssertEqual(result.errorCode, 0, result.errorMessage ?? "")
        XCTAssertEqual(result.appendedBatches, 3)
        XCTAssertEqual(result.logEndOffset, 6)
        XCTAssertEqual(result.logStartOffset, 0)

        let fetched = try await client.fetchAll("orders.east", from: 0)
        XCTAssertEqual(fetched.errorCode, 0)
        XCTAssertEqual(bytes(fetched.records), bytes(concatenated(batches)), "byte-identical, leader epochs included")
        XCTAssertEqual(fetched.highWatermark, 6)
        XCTAssertEqual(try client.records(in: fetched.records).map(\.offset), [0, 1, 2, 3, 4, 5])
        let latest = try await client.listOffset("orders.east", timestamp: -1)
        XCTAssertEqual(latest.offset, 6)
    }

    func testReappendingAnExistingRangeIsANoOpAndADifferentBatchIsADivergence() async throws {
        let client = try BrokerHarness()
        try await client.createMirror("m")
        let batches = [try sourceBatch(["a", "b", "c"], at: 0), try sourceBatch(["d", "e"], at: 3)]
        _ = try await client.mirrorAppend("m", batches)
        // The replicator restarted from an older checkpoint: the same batches, then a new one.
        let again = try await client.mirrorAppend("m", batches + [try sourceBatch(["f"], at: 5)])
        XCTAssertEqual(again.errorCode, 0, again.errorMessage ?? "")
        XCTAssertEqual(again.skippedBatches, 2)
        XCTAssertEqual(again.appendedBatches, 1)
        XCTAssertEqual(again.logEndOffset, 6)
        let fetched = try await client.fetchAll("m", from: 0)
        XCTAssertEqual(
            strings(try client.records(in: fetched.records)), ["a", "b", "c", "d", "e", "f"], "nothing duplicated")

        let other = try await client.mirrorAppend("m", [try sourceBatch(["D", "E"], at: 3)])
        XCTAssertEqual(other.errorCode, KafkaErrorCode.offsetOutOfRange)
        XCTAssertTrue(other.errorMessage?.contains("3...4") == true, other.errorMessage ?? "")
        XCTAssertTrue(other.errorMessage?.contains("diverge") == true, other.errorMessage ?? "")
        XCTAssertEqual(other.logEndOffset, 6)
    }

    func testABatchStraddlingTheLogEndIsRefusedWithExactOffsets() async throws {
        let client = try BrokerHarness()
        try await client.createMirror("m")
        _ = try await client.mirrorAppend("m", [try sourceBatch(["a", "b", "c", "d", "e"], at: 0)])
        let straddling = try await client.mirrorAppend("m", [try sourceBatch(["x", "y", "z", "w"], at: 3)])
        XCTAssertEqual(straddling.errorCode, KafkaErrorCode.offsetOutOfRange)
        XCTAssertEqual(
            straddling.errorMessage,
            "batch at offsets 3...6 straddles the log end offset 5 of m-0: offsets 3...4 are already present; the mirror and its source diverge"
        )
        XCTAssertEqual(straddling.logEndOffset, 5)
        XCTAssertEqual(straddling.appendedBatches, 0)
    }

    func testGapsLeftByCompactionAtTheSourceAreAccepted() async throws {
        let client = try BrokerHarness()
        try await client.createMirror("compacted", configs: ["cleanup.policy": "compact"])
        // The source cleaner kept records 10 and 12 of a batch spanning 10...12, dropped 3...9.
        let whole = try sourceBatch(["p", "q", "r"], at: 10)
        let thinned = try RecordBatchRecords(whole).rebuilt(keeping: [0, 2])
        XCTAssertEqual(thinned.header.lastOffset, 12)
        let batches = [try sourceBatch(["a", "b", "c"], at: 0), thinned, try sourceBatch(["s"], at: 20)]
        let result = try await client.mirrorAppend("compacted", batches)
        XCTAssertEqual(result.errorCode, 0, result.errorMessage ?? "")
        XCTAssertEqual(result.logEndOffset, 21)

        let all = try await client.fetchAll("compacted", from: 0)
        XCTAssertEqual(bytes(all.records), bytes(concatenated(batches)))
        XCTAssertEqual(try client.records(in: all.records).map(\.offset), [0, 1, 2, 10, 12, 20])
        let fromGap = try await client.fetchAll("compacted", from: 5)
        XCTAssertEqual(
            try client.records(in: fromGap.records).map(\.offset), [10, 12, 20], "a fetch in a gap gets the next batch")
    }

    func testTheFirstBatchOfAnEmptyMirrorMayStartAt1000() async throws {
        let client = try BrokerHarness()
        try await client.createMirror("late")
        let result = try await client.mirrorAppend("late", [try sourceBatch(["a", "b"], at: 1000)])
        XCTAssertEqual(result.errorCode, 0, result.errorMessage ?? "")
        XCTAssertEqual(result.logStartOffset, 1000)
        XCTAssertEqual(result.logEndOffset, 1002)
        let earliest = try await client.listOffset("late", timestamp: -2)
        XCTAssertEqual(earliest.offset, 1000)
        let below = try await client.fetch("late", offset: 0)
        XCTAssertEqual(below.errorCode, KafkaErrorCode.offsetOutOfRange)
        let fetched = try await client.fetchAll("late", from: 1000)
        XCTAssertEqual(try client.records(in: fetched.records).map(\.offset), [1000, 1001])
    }

    func testASourceLogStartAboveTheMirrorsEndMovesTheStartUp() async throws {
        let client = try BrokerHarness()
        try await client.createMirror("m")
        _ = try await client.mirrorAppend("m", [try sourceBatch(["a", "b"], at: 0)])
        // The source's retention deleted 2...49 before they were mirrored.
        let jumped = try await client.mirrorAppend("m", [try sourceBatch(["x"], at: 50)], sourceLogStartOffset: 50)
        XCTAssertEqual(jumped.errorCode, 0, jumped.errorMessage ?? "")
        XCTAssertEqual(jumped.logStartOffset, 50)
        XCTAssertEqual(jumped.logEndOffset, 51)
        // Records null: only the start moves.
        let moved = try await client.mirrorAppend("m", [], sourceLogStartOffset: 80)
        XCTAssertEqual(moved.errorCode, 0, moved.errorMessage ?? "")
        XCTAssertEqual([moved.logStartOffset, moved.logEndOffset], [80, 80])
        // A source start within the mirror's range changes nothing (the mirror keeps its history).
        _ = try await client.mirrorAppend("m", [try sourceBatch(["y", "z"], at: 80)])
        let within = try await client.mirrorAppend("m", [], sourceLogStartOffset: 81)
        XCTAssertEqual([within.logStartOffset, within.logEndOffset], [80, 82])
        let fetched = try await client.fetchAll("m", from: 80)
        XCTAssertEqual(strings(try client.records(in: fetched.records)), ["y", "z"])
    }

    func testControlAndTransactionalBatchesAreMirroredAndIdempotentStateIsNotChecked() async throws {
        let client = try BrokerHarness()
        try await client.createMirror("txn")
        let batches = [
            try sourceBatch(["t1", "t2"], at: 0, producerId: 4, producerEpoch: 0, baseSequence: 0, transactional: true),
            try sourceBatch(["marker"], at: 2, producerId: 4, producerEpoch: 0, transactional: true, control: true),
            // Out of sequence for an idempotent producer check (sequence 9 after 1): not checked.
            try sourceBatch(["u"], at: 3, producerId: 4, producerEpoch: 0, baseSequence: 9)
        ]
        let result = try await client.mirrorAppend("txn", batches)
        XCTAssertEqual(result.errorCode, 0, result.errorMessage ?? "")
        XCTAssertEqual(result.logEndOffset, 4)
        let fetched = try await client.fetchAll("txn", from: 0)
        XCTAssertEqual(bytes(fetched.records), bytes(concatenated(batches)))
    }

    func testInvalidBatchesAreRefused() async throws {
        let client = try BrokerHarness()
        try await client.createMirror("m")
        var corrupt = try sourceBatch(["a", "b"], at: 0)
        corrupt.bytes.setInteger(UInt8(0xFF), at: corrupt.bytes.writerIndex - 1)
        let crc = try await client.mirrorAppend("m", [corrupt])
        XCTAssertEqual(crc.errorCode, KafkaErrorCode.corruptMessage)
        let backwards = try await client.mirrorAppend(
            "m", [try sourceBatch(["a"], at: 5), try sourceBatch(["b"], at: 2)])
        XCTAssertEqual(backwards.errorCode, KafkaErrorCode.invalidRecord)
        XCTAssertEqual(backwards.logEndOffset, 0, "a request that fails validation writes nothing")
    }

    func testUnknownTopicsAndOrdinaryTopicsGetClearErrors() async throws {
        let client = try BrokerHarness()
        let unknown = try await client.mirrorAppend("nope", [try sourceBatch(["a"], at: 0)])
        XCTAssertEqual(unknown.errorCode, KafkaErrorCode.unknownTopicOrPartition)
        XCTAssertEqual(unknown.logEndOffset, -1)
        let metadata = try await client.send(MetadataRequest(topics: nil), version: 12)
        XCTAssertFalse(metadata.userTopics.contains { $0.name == "nope" }, "the mirror API never auto-creates")

        _ = try await client.createTopic("plain")
        let plain = try await client.mirrorAppend("plain", [try sourceBatch(["a"], at: 0)])
        XCTAssertEqual(plain.errorCode, KafkaErrorCode.invalidTopicException)
        XCTAssertTrue(plain.errorMessage?.contains("not a mirror topic") == true, plain.errorMessage ?? "")

        try await client.createMirror("m")
        let noPartition = try await client.mirrorAppend("m", partition: 3, [try sourceBatch(["a"], at: 0)])
        XCTAssertEqual(noPartition.errorCode, KafkaErrorCode.unknownTopicOrPartition)

        let groupsTopic = try await client.mirrorAppend("__strait_groups", [try sourceBatch(["a"], at: 0)])
        XCTAssertEqual(groupsTopic.errorCode, KafkaErrorCode.invalidTopicException)
    }

    func testProduceIsRefusedUntilTheTopicIsPromoted() async throws {
        let client = try BrokerHarness()
        try await client.createMirror("orders.east", source: "east")
        _ = try await client.mirrorAppend("orders.east", [try sourceBatch(["a", "b", "c"], at: 40)])

        let refused = try await client.produce("orders.east", batch: try batch(["local"]))
        XCTAssertEqual(refused.errorCode, KafkaErrorCode.invalidTopicException)
        XCTAssertEqual(
            refused.errorMessage,
            "topic orders.east is a mirror of east; promote it first (delete its strait.mirror.source config)")

        let promoted = try await client.setConfig("orders.east", "strait.mirror.source", nil)
        XCTAssertEqual(promoted.errorCode, 0, promoted.errorMessage ?? "")
        let accepted = try await client.produce("orders.east", batch: try batch(["local"]))
        XCTAssertEqual(accepted.errorCode, 0, accepted.errorMessage ?? "")
        XCTAssertEqual(accepted.baseOffset, 43, "producers write at the next offset")
        let late = try await client.mirrorAppend("orders.east", [try sourceBatch(["d"], at: 43)])
        XCTAssertEqual(
            late.errorCode, KafkaErrorCode.invalidTopicException, "after promotion the mirror API is refused")

        // AlterConfigs without the key promotes as well.
        try await client.createMirror("other")
        let replaced = try await client.send(
            AlterConfigsRequest(
                resources: [
                    .init(
                        resourceType: 2, resourceName: "other", configs: [.init(name: "retention.ms", value: "-1")])
                ], validateOnly: false), version: 1)
        XCTAssertEqual(replaced.responses[0].errorCode, 0)
        let produced = try await client.produce("other", batch: try batch(["x"]))
        XCTAssertEqual(produced.errorCode, 0)
    }

    func testTheMirrorConfigCanOnlyBeSetOnATopicThatNeverHeldRecords() async throws {
        let client = try BrokerHarness()
        _ = try await client.createTopic("busy")
        _ = try await client.produce("busy", batch: try batch(["x"]))
        let refused = try await client.setConfig("busy", "strait.mirror.source", "east")
        XCTAssertEqual(refused.errorCode, KafkaErrorCode.policyViolation)
        XCTAssertTrue(refused.errorMessage?.contains("never held records") == true, refused.errorMessage ?? "")
        let stillWritable = try await client.produce("busy", batch: try batch(["y"]))
        XCTAssertEqual(stillWritable.errorCode, 0)

        _ = try await client.createTopic("fresh", partitions: 2)
        let accepted = try await client.setConfig("fresh", "strait.mirror.source", "east")
        XCTAssertEqual(accepted.errorCode, 0, accepted.errorMessage ?? "")
        let produce = try await client.produce("fresh", partition: 1, batch: try batch(["x"]))
        XCTAssertEqual(produce.errorCode, KafkaErrorCode.invalidTopicException)

        let empty = try await client.setConfig("fresh", "strait.mirror.source", "")
        XCTAssertEqual(empty.errorCode, KafkaErrorCode.invalidConfig)

        let groupsTopic = try await client.setConfig("__strait_groups", "strait.mirror.source", "east")
        XCTAssertNotEqual(groupsTopic.errorCode, 0)
    }

    func testDescribeConfigsShowsTheMirrorSource() async throws {
        let client = try BrokerHarness()
        try await client.createMirror("m", source: "west")
        _ = try await client.createTopic("plain")
        func describe(_ topic: String) async throws -> DescribeConfigsResponse.DescribeConfigsResourceResult? {
            let response = try await client.send(
                DescribeConfigsRequest(
                    resources: [
                        .init(resourceType: 2, resourceName: topic, configurationKeys: ["strait.mirror.source"])
                    ],
                    includeDocumentation: true), version: 4)
            return response.results[0].configs.first
        }
        let mirror = try await describe("m")
        XCTAssertEqual(mirror?.value, "west")
        XCTAssertEqual(mirror?.configSource, 1)
        XCTAssertTrue(mirror?.documentation?.contains("promote") == true)
        let plain = try await describe("plain")
        XCTAssertEqual(plain?.value, "")
        XCTAssertEqual(plain?.configSource, 5, "default: not a mirror")
    }

    func testAMirrorAppendWakesAWaitingFetch() async throws {
        let client = try BrokerHarness()
        try await client.createMirror("m")
        let replicator = BrokerHarness(sharing: client)
        async let fetched = client.fetch("m", offset: 0, maxWaitMs: 30_000, minBytes: 1)
        try await Task.sleep(for: .milliseconds(50))
        _ = try await replicator.mirrorAppend("m", [try sourceBatch(["late"], at: 0)])
        let result = try await fetched
        XCTAssertEqual(strings(try client.records(in: result.records)), ["late"])
    }

    func testARestartKeepsMirroredDataTheMirrorFlagAndTheProducerStateBoundary() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "strait-mirror-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        func open() throws -> BrokerHarness {
            try BrokerHarness(storage: try FileBrokerStorage(directory: directory, logger: logger))
        }

        let first = try open()
        try await first.createMirror("m", source: "east")
        // The source's producer 0 (epoch 0) wrote sequences 0...2; ids collide across clusters.
        let batches = [
            try sourceBatch(["a", "b", "c"], at: 1000, producerId: 0, producerEpoch: 0, baseSequence: 0),
            try RecordBatchRecords(try sourceBatch(["d", "e", "f"], at: 1010)).rebuilt(keeping: [1])
        ]
        _ = try await first.mirrorAppend("m", batches)
        first.broker.shutdown()

        let second = try open()
        let fetched = try await second.fetchAll("m", from: 1000)
        XCTAssertEqual(bytes(fetched.records), bytes(concatenated(batches)))
        XCTAssertEqual(fetched.logStartOffset, 1000)
        XCTAssertEqual(fetched.highWatermark, 1013)
        let refused = try await second.produce("m", batch: try batch(["x"]))
        XCTAssertEqual(refused.errorCode, KafkaErrorCode.invalidTopicException, "still a mirror after a restart")
        let promoted = try await second.setConfig("m", "strait.mirror.source", nil)
        XCTAssertEqual(promoted.errorCode, 0)
        second.broker.shutdown()

        let third = try open()
        // This broker's own producer 0 (epoch 0) starts at sequence 0: not a duplicate of the source's.
        let local = try await third.produce(
            "m", batch: try batch(["mine"], producerId: 0, producerEpoch: 0, baseSequence: 0))
        XCTAssertEqual(local.errorCode, 0, local.errorMessage ?? "")
        XCTAssertEqual(local.baseOffset, 1013)
        let all = try await third.fetchAll("m", from: 1000)
        XCTAssertEqual(strings(try third.records(in: all.records)), ["a", "b", "c", "e", "mine"])
        third.broker.shutdown()
    }
}
