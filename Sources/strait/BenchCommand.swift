import ArgumentParser
import Foundation
import KafkaRecords

/// Micro-benchmarks of building blocks. Broker and link benchmarks live in bench/ and drive
/// real clients; these measure one function in-process.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Micro-benchmarks of Strait's building blocks.", subcommands: [CRCBench.self])
}

struct CRCBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crc", abstract: "CRC-32C throughput: the CPU instruction against the table, side by side.")

    @Option(help: "Bytes per checksum call (a typical batch size).") var chunk: Int = 64 * 1024
    @Option(help: "Megabytes checksummed per measurement.") var megabytes: Int = 512
    @Option(help: "Measurements per implementation; the median is reported.") var runs: Int = 5

    func run() throws {
        guard chunk > 0, megabytes > 0, runs > 0 else { throw ValidationError("chunk, megabytes and runs must be positive") }
        var generator = SystemRandomNumberGenerator()
        let data = (0..<chunk).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let calls = max(1, megabytes * 1_048_576 / chunk)
        func measure(_ body: (UnsafeRawBufferPointer) -> UInt32) -> Double {
            var timings: [Double] = []
            var sink: UInt32 = 0
            for _ in 0..<runs {
                let start = DispatchTime.now().uptimeNanoseconds
                data.withUnsafeBytes { raw in
                    for _ in 0..<calls { sink &+= body(raw) }
                }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                timings.append(Double(calls * chunk) / seconds / 1e9)
            }
            if sink == 42 { print("") } // keeps the loop from being optimised away
            return timings.sorted()[timings.count / 2]
        }
        let hardware = measure { CRC32C.checksum($0) }
        let table = measure { CRC32C.tableChecksum($0) }
        print("CRC-32C, \(chunk)-byte chunks, median of \(runs) runs of \(megabytes) MiB")
        print(String(format: "  dispatching (%@): %.2f GB/s", CRC32C.usesHardware ? "crc32 instruction" : "table", hardware))
        print(String(format: "  table (slicing-by-8): %.2f GB/s", table))
        print(String(format: "  ratio: %.1fx", hardware / table))
    }
}
