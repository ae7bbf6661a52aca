import Foundation
import NIOCore
import XCTest
@testable import KafkaRecords

final class CompressionTests: XCTestCase {
    /// The records area of the golden batch in RecordBatchGoldenTests (two records).
    let goldenArea = hex("10 00 00 00 02 6b 02 76 00 16 00 0a 02 01 04 76 76 02 02 68 01")
    let codecs: [CompressionCodec] = [.gzip, .snappy, .lz4, .zstd]

    /// Compressible text with some incompressible noise, spanning several 64 KiB lz4 blocks.
    func mixedPayload(size: Int) -> [UInt8] {
        var generator = SplitMix64(seed: 42)
        return (0..<size).map { index in
            index % 7 == 0 ? UInt8(truncatingIfNeeded: generator.next()) : UInt8(ascii: "a") + UInt8(index % 23)
        }
    }

    func testEveryCodecRoundTripsEmptySmallAndMultiBlockInput() throws {
        for codec in CompressionCodec.allCases {
            for payload in [[], utf8("hello"), goldenArea, mixedPayload(size: 200_000)] {
                let compressed = try Compression.compress(payload, codec: codec)
                let restored = try Compression.decompress(compressed, codec: codec, maxSize: payload.count)
                XCTAssertEqual(restored.allBytes, payload, "\(codec) with \(payload.count) bytes")
            }
        }
    }

    func testLevelsAreAccepted() throws {
        let payload = mixedPayload(size: 10_000)
        for (codec, level) in [(CompressionCodec.gzip, 1), (.gzip, 9), (.lz4, 9), (.zstd, 1), (.zstd, 19)] {
            let compressed = try Compression.compress(payload, codec: codec, level: level)
            XCTAssertEqual(try Compression.decompress(compressed, codec: codec, maxSize: 1 << 20).allBytes, payload)
        }
    }

    func testLZ4FramesUseIndependent64KiBBlocksWithoutChecksums() throws {
        let frame = try Compression.compress(utf8("hello hello hello"), codec: .lz4).allBytes
        XCTAssertEqual(Array(frame.prefix(4)), hex("04 22 4d 18"), "magic, little-endian")
        XCTAssertEqual(frame[4], 0x60, "FLG: version 01, independent blocks, no checksums, no content size")
        XCTAssertEqual(frame[5], 0x40, "BD: 64 KiB max block")
    }

    func testGzipOutputIsAGzipStream() throws {
        let stream = try Compression.compress(utf8("hello"), codec: .gzip).allBytes
        XCTAssertEqual(Array(stream.prefix(3)), hex("1f 8b 08"))
    }

    // Frames below were produced by the command-line tools from `goldenArea`:
    // `gzip -9 -n`, `zstd` reading stdin (no content size, with checksum), `lz4` reading stdin
    // (content checksum on).
    func testDecompressesFramesMadeByTheCommandLineTools() throws {
        let frames: [(CompressionCodec, String)] = [
            (.gzip, "1f8b08000000000002031360606060ca662a631063e0626264292b6362ca600400494a3e3d15000000"),
            (.zstd, "28b52ffd0458a9000010000000026b02760016000a020104767602026801c9b5ed68"),
            (.lz4, "04224d186440a71500008010000000026b02760016000a02010476760202680100000000a7ce1447")
        ]
        for (codec, frame) in frames {
            XCTAssertEqual(
                try Compression.decompress(hex(frame), codec: codec, maxSize: 1024).allBytes, goldenArea, "\(codec)")
        }
    }

    func testDecompressesLargeFramesFromTheCommandLineToolsWhenInstalled() throws {
        let payload = Array(
            (0..<3000).map { String(format: "record number %05d of a long stream\n", $0) }.joined().utf8)
        let tools: [(CompressionCodec, String, [String])] = [
            (.gzip, "/usr/bin/gzip", ["-c"]),
            (.zstd, "/usr/bin/zstd", ["-q", "-c"]),
            (.lz4, "/usr/bin/lz4", ["-q", "-B4", "-BD", "-c"])  // 64 KiB linked blocks, content checksum
        ]
        var ran = 0
        for (codec, tool, arguments) in tools where FileManager.default.isExecutableFile(atPath: tool) {
            let frame = try run(tool, arguments, input: payload)
            XCTAssertEqual(
                try Compression.decompress(frame, codec: codec, maxSize: payload.count).allBytes, payload, tool)
            ran += 1
        }
        if ran == 0 { throw XCTSkip("none of gzip, zstd, lz4 is installed") }
    }

    func testSnappyRawBlockGoldenBytes() throws {
        // Uncompressed length 5, then one literal tag ((5 - 1) << 2) and the bytes.
        let block = hex("05 10 68 65 6c 6c 6f")
        XCTAssertEqual(try Compression.decompress(block, codec: .snappy, maxSize: 5).allBytes, utf8("hello"))
        let written = try Compression.compress(utf8("hello"), codec: .snappy).allBytes
        XCTAssertEqual(written, block, "we write one raw block, no xerial header")
    }

    func testSnappyXerialFramingIsRead() throws {
        let framed =
            hex("82 53 4e 41 50 50 59 00  00 00 00 01  00 00 00 01")  // magic, version 1, compatible 1
            + hex("00 00 00 07") + hex("05 10 68 65 6c 6c 6f")  // chunk: "hello"
            + hex("00 00 00 04") + hex("02 04 21 21")  // chunk: "!!"
        XCTAssertEqual(try Compression.decompress(framed, codec: .snappy, maxSize: 7).allBytes, utf8("hello!!"))
        XCTAssertEqual(
            expectError { () throws(RecordBatchError) in try Compression.decompress(framed, codec: .snappy, maxSize: 6)
            },
            .decompressedTooLarge(.snappy, limit: 6))
    }

    func testSnappyXerialWriterOutputReadsBackInManyChunks() throws {
        let payload = mixedPayload(size: 100_000)
        let framed = try Compression.compressXerialSnappy(payload, blockSize: 4096)
        XCTAssertEqual(Array(framed.allBytes.prefix(8)), Compression.xerialMagic)
        XCTAssertEqual(try Compression.decompress(framed, codec: .snappy, maxSize: payload.count).allBytes, payload)
    }

    func testSnappyXerialDamageIsReported() {
        let header = hex("82 53 4e 41 50 50 59 00 00 00 00 01 00 00 00 01")
        let damaged: [(String, [UInt8])] = [
            ("header cut short", Array(header.prefix(12))),
            ("chunk length cut short", header + hex("00 00")),
            ("chunk longer than the data", header + hex("00 00 00 09 05 10 68 65 6c 6c 6f")),
            ("negative chunk length", header + hex("ff ff ff ff")),
            ("corrupt block", header + hex("00 00 00 03 05 10 68"))
        ]
        for (what, bytes) in damaged {
            guard
                let error = expectError({ () throws(RecordBatchError) in
                    try Compression.decompress(bytes, codec: .snappy, maxSize: 100)
                })
            else { continue }
            guard case .decompressionFailed(.snappy, _) = error else { return XCTFail("\(what): \(error)") }
        }
    }

    func testDecompressionBombsStopAtTheLimit() throws {
        let zeros = [UInt8](repeating: 0, count: 4 << 20)
        for codec in codecs {
            let compressed = try Compression.compress(zeros, codec: codec)
            XCTAssertLessThan(compressed.readableBytes, 1 << 20, "\(codec) should shrink zeros")
            XCTAssertEqual(
                expectError { () throws(RecordBatchError) in
                    try Compression.decompress(compressed, codec: codec, maxSize: 1 << 20)
                },
                .decompressedTooLarge(codec, limit: 1 << 20), "\(codec)")
            XCTAssertEqual(
                expectError { () throws(RecordBatchError) in
                    try Compression.decompress(compressed, codec: codec, maxSize: zeros.count - 1)
                },
                .decompressedTooLarge(codec, limit: zeros.count - 1), "\(codec) one byte over")
            XCTAssertEqual(
                try Compression.decompress(compressed, codec: codec, maxSize: zeros.count).readableBytes, zeros.count,
                "\(codec) exactly at the limit")
        }
        XCTAssertEqual(
            expectError { () throws(RecordBatchError) in try Compression.decompress(zeros, codec: .none, maxSize: 10) },
            .decompressedTooLarge(.none, limit: 10))
    }

    func testUnboundedLimitIsAccepted() throws {
        for codec in CompressionCodec.allCases {
            let compressed = try Compression.compress(goldenArea, codec: codec)
            XCTAssertEqual(
                try Compression.decompress(compressed, codec: codec, maxSize: .max).allBytes, goldenArea, "\(codec)")
        }
    }

    func testTruncatedFramesAreErrorsNotCrashes() throws {
        let payload = mixedPayload(size: 3000)
        for codec in codecs {
            let frame = try Compression.compress(payload, codec: codec).allBytes
            for length in 0..<frame.count {
                let cut = Array(frame.prefix(length))
                if let restored = try? Compression.decompress(cut, codec: codec, maxSize: 1 << 20) {
                    XCTFail(
                        "\(codec) accepted a frame cut to \(length) of \(frame.count) bytes (\(restored.readableBytes) bytes out)"
                    )
                }
            }
        }
    }

    func testGarbageIsAnErrorForEveryCodec() {
        let garbage = mixedPayload(size: 512)
        for codec in codecs {
            guard
                let error = expectError({ () throws(RecordBatchError) in
                    try Compression.decompress(garbage, codec: codec, maxSize: 1 << 20)
                })
            else { continue }
            guard case .decompressionFailed(codec, _) = error else { return XCTFail("\(codec): \(error)") }
            XCTAssertEqual(error.kafkaErrorCode, 87)
        }
    }

    func testConcatenatedGzipMembersReadAsOneStream() throws {
        let first = try Compression.compress(utf8("hello "), codec: .gzip).allBytes
        let second = try Compression.compress(utf8("world"), codec: .gzip).allBytes
        XCTAssertEqual(
            try Compression.decompress(first + second, codec: .gzip, maxSize: 100).allBytes, utf8("hello world"))
    }

    private func run(_ tool: String, _ arguments: [String], input: [UInt8]) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "strait-records-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inputFile = directory.appendingPathComponent("input")
        let outputFile = directory.appendingPathComponent("output")
        try Data(input).write(to: inputFile)
        XCTAssertTrue(FileManager.default.createFile(atPath: outputFile.path, contents: nil))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardInput = try FileHandle(forReadingFrom: inputFile)
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "\(tool) \(arguments)")
        return Array(try Data(contentsOf: outputFile))
    }
}

/// Deterministic pseudo-random bytes for payloads.
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
