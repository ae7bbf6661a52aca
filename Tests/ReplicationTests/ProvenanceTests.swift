import KafkaRecords
import NIOCore
import Replication
import XCTest

final class ProvenanceTests: XCTestCase {
    func batch(
        baseOffset: Int64 = 100, codec: CompressionCodec = .none, origins: [String?],
        producerId: Int64 = -1, logAppendTime: Int64? = nil
    ) throws -> StoredBatch {
        var builder = RecordBatchBuilder(
            baseOffset: baseOffset, codec: codec, producerId: producerId,
            producerEpoch: producerId >= 0 ? 0 : -1, baseSequence: producerId >= 0 ? 7 : -1,
            logAppendTime: logAppendTime)
        for (index, origin) in origins.enumerated() {
            var headers = [RecordHeader(key: "trace", value: [UInt8(index)])]
            if let origin { headers.append(Provenance.header(origin: origin)) }
            builder.append(
                key: Array("k\(index)".utf8), value: Array("v\(index)".utf8), headers: headers,
                timestamp: 1_000 + Int64(index))
        }
        var built = try builder.build()
        built.assignBaseOffset(baseOffset)
        return built
    }

    func bytes(_ batch: StoredBatch?) -> [UInt8] { batch.map { Array($0.bytes.readableBytesView) } ?? [] }

    func testHeaderAndSkipDecision() {
        let fromWest = Record(timestamp: 0, key: nil, value: nil, headers: [Provenance.header(origin: "west")])
        XCTAssertEqual(Provenance.headerKey, "strait.origin")
        XCTAssertEqual(Provenance.origin(of: fromWest), "west")
        XCTAssertTrue(Provenance.mustSkip(fromWest, onLinkTo: "west"))
        XCTAssertFalse(Provenance.mustSkip(fromWest, onLinkTo: "central"))
        XCTAssertFalse(Provenance.mustSkip(Record(timestamp: 0, key: nil, value: nil), onLinkTo: "west"))
        XCTAssertEqual(LinkCompression("source"), .source)
        XCTAssertEqual(LinkCompression("zstd"), .codec(.zstd))
        XCTAssertEqual(LinkCompression("none"), .codec(.none))
        XCTAssertNil(LinkCompression("brotli"))
    }

    /// What a forwarded batch must be for Apache Kafka to accept it from a client: base offset 0,
    /// and otherwise the source's bytes (the CRC still matches: it does not cover bytes 0-16).
    func assertForwardedAsClientBatch(
        _ output: StoredBatch?, of input: StoredBatch, file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let output = try XCTUnwrap(output, file: file, line: line)
        XCTAssertEqual(output.header.baseOffset, 0, file: file, line: line)
        XCTAssertEqual(output.header.partitionLeaderEpoch, -1, file: file, line: line)
        XCTAssertEqual(
            Array(bytes(output)[16...]), Array(bytes(input)[16...]), "magic, CRC and all after it unchanged",
            file: file, line: line)
        XCTAssertNoThrow(
            try output.header.verifyCRC(in: output.bytes, at: output.bytes.readerIndex), file: file, line: line)
        XCTAssertNoThrow(
            try ProducedRecordsValidator.validate(output.bytes, maxBatchBytes: 1 << 20, requireKeys: true),
            "a Kafka-strict broker accepts it", file: file, line: line)
    }

    func testUnchangedBatchIsForwardedAsAClientBatch() throws {
        var input = try batch(codec: .lz4, origins: [nil, nil, nil])
        input.stampLeaderEpoch(3)
        let rewriter = MirrorBatchRewriter(
            source: "east", target: "west", provenanceHeader: false, compression: .source)
        let result = try rewriter.rewrite(input)
        XCTAssertEqual(result.outcome, .forwarded)
        try assertForwardedAsClientBatch(result.batch, of: input)
        XCTAssertEqual(result.sourceOffsets, SourceOffsets(100..<103))
        XCTAssertEqual(input.header.baseOffset, 100, "the fetched batch itself is not changed")
        // A multi-hop batch whose records all carry a foreign origin needs no change either.
        let multiHop = try batch(codec: .zstd, origins: ["central", "central"])
        let stamped = MirrorBatchRewriter(
            source: "east", target: "west", provenanceHeader: true, compression: .codec(.zstd))
        XCTAssertEqual(try stamped.rewrite(multiHop).outcome, .forwarded)
        try assertForwardedAsClientBatch(try stamped.rewrite(multiHop).batch, of: multiHop)
    }

    func testEveryOutcomeIsABatchKafkaAcceptsFromAClient() throws {
        let plain = MirrorBatchRewriter(source: "east", target: "west", provenanceHeader: false, compression: .source)
        let stamping = MirrorBatchRewriter(
            source: "east", target: "west", provenanceHeader: true, compression: .codec(.lz4))
        for codec in CompressionCodec.allCases {
            for producerId: Int64 in [-1, 77] {
                let input = try batch(
                    baseOffset: 5_000, codec: codec, origins: [nil, "central", nil], producerId: producerId)
                for rewriter in [plain, stamping] {
                    let result = try rewriter.rewrite(input)
                    let output = try XCTUnwrap(result.batch, "\(codec) \(producerId)")
                    XCTAssertNoThrow(
                        try ProducedRecordsValidator.validate(output.bytes, maxBatchBytes: 1 << 20, requireKeys: true),
                        "\(codec) producer \(producerId) \(result.outcome)")
                    XCTAssertEqual(output.header.producerId, -1)
                    XCTAssertFalse(output.header.isTransactional)
                }
            }
        }
    }

    func testProvenanceRewriteAddsHeaderAndDropsLoopRecords() throws {
        let input = try batch(codec: .gzip, origins: [nil, "west", "central", nil])
        let rewriter = MirrorBatchRewriter(source: "east", target: "west", provenanceHeader: true, compression: .source)
        let result = try rewriter.rewrite(input)
        XCTAssertEqual(result.outcome, .rebuilt)
        XCTAssertEqual(result.skippedFromTarget, 1)
        var expectedOffsets = SourceOffsets()
        [100, 102, 103].forEach { expectedOffsets.append($0) }
        XCTAssertEqual(result.sourceOffsets, expectedOffsets)
        let output = try XCTUnwrap(result.batch)
        XCTAssertEqual(output.header.compression, .gzip)
        XCTAssertEqual(output.header.producerId, -1)
        let records = try RecordBatchDecoder.records(in: output)
        XCTAssertEqual(records.map(\.key), [Array("k0".utf8), Array("k2".utf8), Array("k3".utf8)])
        XCTAssertEqual(records.map(\.value), [Array("v0".utf8), Array("v2".utf8), Array("v3".utf8)])
        XCTAssertEqual(records.map(\.timestamp), [1_000, 1_002, 1_003])
        XCTAssertEqual(records.map { Provenance.origin(of: $0) }, ["east", "central", "east"])
        XCTAssertEqual(records[0].headers, [RecordHeader(key: "trace", value: [0]), Provenance.header(origin: "east")])
        XCTAssertNoThrow(try output.header.verifyCRC(in: output.bytes, at: output.bytes.readerIndex))
    }

    func testBatchOfOnlyLoopRecordsIsDropped() throws {
        let input = try batch(origins: ["west", "west"])
        let result = try MirrorBatchRewriter(
            source: "east", target: "west", provenanceHeader: true, compression: .source
        ).rewrite(input)
        XCTAssertEqual(result.outcome, .dropped)
        XCTAssertNil(result.batch)
        XCTAssertTrue(result.sourceOffsets.isEmpty)
        XCTAssertEqual(result.skippedFromTarget, 2)
    }

    func testRecompressionToTheLinkCodec() throws {
        for codec in CompressionCodec.allCases {
            let input = try batch(codec: .snappy, origins: [nil, nil])
            let result = try MirrorBatchRewriter(
                source: "east", target: "west", provenanceHeader: false, compression: .codec(codec)
            ).rewrite(input)
            XCTAssertEqual(result.outcome, codec == .snappy ? .forwarded : .rebuilt, "\(codec)")
            XCTAssertEqual(result.batch?.header.compression, codec)
            XCTAssertEqual(
                try RecordBatchDecoder.records(in: result.batch!).map(\.value), [Array("v0".utf8), Array("v1".utf8)])
        }
    }

    func testIdempotentSourceBatchIsRestampedWithoutRecompression() throws {
        let input = try batch(codec: .lz4, origins: [nil, nil, nil], producerId: 4242)
        let rewriter = MirrorBatchRewriter(
            source: "east", target: "west", provenanceHeader: false, compression: .source)
        let result = try rewriter.rewrite(input)
        XCTAssertEqual(result.outcome, .restamped)
        let output = try XCTUnwrap(result.batch)
        XCTAssertEqual(output.header.producerId, -1)
        XCTAssertEqual(output.header.baseSequence, -1)
        XCTAssertEqual(output.header.baseOffset, 0)
        XCTAssertNoThrow(try output.header.verifyCRC(in: output.bytes, at: output.bytes.readerIndex))
        XCTAssertEqual(Array(bytes(output)[61...]), Array(bytes(input)[61...]), "records area copied as is")
        XCTAssertEqual(
            try RecordBatchDecoder.records(in: output).map { [$0.key, $0.value] },
            try RecordBatchDecoder.records(in: input).map { [$0.key, $0.value] })

        let own = ProducerStamp(producerId: 9, producerEpoch: 1, baseSequence: 30)
        let mine = try rewriter.rewrite(input, producer: own)
        XCTAssertEqual(mine.outcome, .restamped)
        XCTAssertEqual(mine.batch?.header.producerId, 9)
        XCTAssertEqual(mine.batch?.header.baseSequence, 30)
        XCTAssertEqual(try rewriter.rewrite(mine.batch!, producer: own).outcome, .forwarded)
    }

    func testLogAppendTimeCompactedAndPartialBatchesAreRebuilt() throws {
        let rewriter = MirrorBatchRewriter(
            source: "east", target: "west", provenanceHeader: false, compression: .source)
        // LogAppendTime: records keep the time they were read with.
        let appendTime = try batch(origins: [nil, nil], logAppendTime: 5_000)
        let rebuilt = try rewriter.rewrite(appendTime)
        XCTAssertEqual(rebuilt.outcome, .rebuilt)
        XCTAssertEqual(rebuilt.batch?.header.timestampType, .createTime)
        XCTAssertEqual(try RecordBatchDecoder.records(in: rebuilt.batch!).map(\.timestamp), [5_000, 5_000])

        // Compacted: offsets 100 and 102 left of 100...102.
        let full = try batch(origins: [nil, nil, nil])
        let compacted = try RecordBatchRecords(full).rebuilt(keeping: [0, 2])
        let result = try rewriter.rewrite(compacted)
        XCTAssertEqual(result.outcome, .rebuilt)
        XCTAssertEqual(result.sourceOffsets.ranges, [100..<101, 102..<103])
        XCTAssertEqual(result.batch?.header.lastOffsetDelta, 1, "dense at the target")

        // A fetch from 101 returns the whole batch: 100 is left out.
        let partial = try rewriter.rewrite(full, from: 101)
        XCTAssertEqual(partial.outcome, .rebuilt)
        XCTAssertEqual(partial.sourceOffsets, SourceOffsets(101..<103))
    }

    func testControlBatchesAreDropped() throws {
        var builder = RecordBatchBuilder(
            baseOffset: 7, producerId: 1, producerEpoch: 0, isTransactional: true, isControl: true)
        builder.append(key: [0, 0, 0, 1], value: [0, 0, 0, 0, 0, 0], timestamp: 0)
        let marker = try builder.build()
        let result = try MirrorBatchRewriter(
            source: "east", target: "west", provenanceHeader: true, compression: .source
        ).rewrite(marker)
        XCTAssertEqual(result.outcome, .dropped)
        XCTAssertTrue(result.sourceOffsets.isEmpty)
    }
}
