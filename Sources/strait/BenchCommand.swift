import ArgumentParser
import Foundation
import KafkaRecords
import NIOCore
import NIOEmbedded
import TLS

/// Micro-benchmarks of building blocks. Broker and link benchmarks live in bench/ and drive
/// real clients; these measure one function in-process.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Micro-benchmarks of Strait's building blocks.",
        subcommands: [CRCBench.self, TLSBench.self])
}

struct CRCBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crc", abstract: "CRC-32C throughput: the CPU instruction against the table, side by side.")

    @Option(help: "Bytes per checksum call (a typical batch size).") var chunk: Int = 64 * 1024
    @Option(help: "Megabytes checksummed per measurement.") var megabytes: Int = 512
    @Option(help: "Measurements per implementation; the median is reported.") var runs: Int = 5

    func validate() throws {
        guard chunk > 0, megabytes > 0, runs > 0 else {
            throw ValidationError("chunk, megabytes and runs must be positive")
        }
    }

    func run() throws {
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
            if sink == 42 { print("") }  // keeps the loop from being optimised away
            return timings.sorted()[timings.count / 2]
        }
        let hardware = measure { CRC32C.checksum($0) }
        let table = measure { CRC32C.tableChecksum($0) }
        print("CRC-32C, \(chunk)-byte chunks, median of \(runs) runs of \(megabytes) MiB")
        print(
            String(
                format: "  dispatching (%@): %.2f GB/s", CRC32C.usesHardware ? "crc32 instruction" : "table", hardware))
        print(String(format: "  table (slicing-by-8): %.2f GB/s", table))
        print(String(format: "  ratio: %.1fx", hardware / table))
    }
}

/// TLS through `OpenSSLHandler` against the bare cipher, in one process on one thread: a client
/// and a server handler on two `EmbeddedChannel`s, ciphertext handed across in 64 KiB reads as a
/// socket would deliver it. What the handler adds on top of AES-GCM is what this measures.
struct TLSBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls",
        abstract: "Plaintext through two TLS handlers (seal and open) against the bare AES-GCM cipher, side by side.")

    @Option(help: "Server certificate chain (PEM).") var certFile: String
    @Option(help: "Server private key (PEM).") var keyFile: String
    @Option(help: "CA that signed the server certificate (PEM).") var caFile: String
    @Option(help: "Server name the certificate is for.") var serverName: String = "localhost"
    @Option(parsing: .upToNextOption, help: "Bytes per write (a produce request or fetch response).") var messageBytes:
        [Int] = [16 * 1024, 1024 * 1024]
    @Option(help: "Megabytes sent per measurement.") var megabytes: Int = 512
    @Option(help: "Measurements per figure; the median is reported.") var runs: Int = 5

    func validate() throws {
        guard megabytes > 0, runs > 0, messageBytes.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("message bytes, megabytes and runs must be positive")
        }
    }

    func run() throws {
        let server = try TLSContext(configuration: .server(certificateChainFile: certFile, privateKeyFile: keyFile))
        let client = try TLSContext(configuration: .client(caFile: caFile, serverName: serverName))
        let total = megabytes * 1_048_576
        print("TLS handler against the bare cipher, \(megabytes) MiB per measurement, median of \(runs) runs")
        for size in messageBytes {
            var cipherName = ""
            var handlerRates: [Double] = []
            var cipherRates: [Double] = []
            for _ in 0..<runs {
                let pair = try HandlerPair(server: server, client: client)
                cipherName = pair.cipher
                handlerRates.append(try pair.send(totalBytes: total, messageBytes: size))
                pair.close()
                let cipher: CipherSpeed.Cipher =
                    cipherName.contains("AES_128") || cipherName.contains("AES128") ? .aes128GCM : .aes256GCM
                cipherRates.append(CipherSpeed.sealAndOpen(cipher, totalBytes: total))
            }
            let handler = median(handlerRates), bare = median(cipherRates)
            print(
                String(
                    format:
                        "  %8d-byte writes, %@: handlers %.2f GB/s, bare cipher %.2f GB/s, handlers at %.0f%% of the cipher",
                    size, cipherName, handler / 1e9, bare / 1e9, 100 * handler / bare))
        }
    }

    private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}

/// A client and a server `OpenSSLHandler` joined back to back through embedded channels.
private final class HandlerPair {
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    private(set) var cipher = ""

    init(server serverContext: TLSContext, client clientContext: TLSContext) throws {
        server = EmbeddedChannel(handler: try OpenSSLHandler(tlsContext: serverContext))
        client = EmbeddedChannel(handler: try OpenSSLHandler(tlsContext: clientContext))
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 9093)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
        _ = try pump()
        let handler = try client.pipeline.syncOperations.handler(type: OpenSSLHandler.self)
        guard let result = handler.handshakeResult else { throw CLIError("the TLS handshake did not complete") }
        cipher = result.cipher
    }

    func close() {
        _ = try? client.finish(acceptAlreadyClosed: true)
        _ = try? server.finish(acceptAlreadyClosed: true)
    }

    /// Sends `totalBytes` client to server in writes of `messageBytes`; plaintext bytes/s.
    func send(totalBytes: Int, messageBytes: Int) throws -> Double {
        var message = client.allocator.buffer(capacity: messageBytes)
        message.writeRepeatingByte(0x5a, count: messageBytes)
        let messages = max(1, totalBytes / messageBytes)
        let start = ContinuousClock.now
        var received = 0
        for _ in 0..<messages {
            try client.writeAndFlush(message).wait()
            received += try pump()
        }
        let elapsed = ContinuousClock.now - start
        guard received == messages * messageBytes else {
            throw CLIError("received \(received) plaintext bytes, sent \(messages * messageBytes)")
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(received) / seconds
    }

    /// Moves ciphertext both ways until neither side has more; returns the plaintext bytes the
    /// server received.
    private func pump() throws -> Int {
        var plaintext = 0
        var moved = true
        while moved {
            moved = false
            while let ciphertext = try client.readOutbound(as: ByteBuffer.self) {
                try deliver(ciphertext, to: server)
                moved = true
            }
            while let ciphertext = try server.readOutbound(as: ByteBuffer.self) {
                try deliver(ciphertext, to: client)
                moved = true
            }
            while let buffer = try server.readInbound(as: ByteBuffer.self) { plaintext += buffer.readableBytes }
            while try client.readInbound(as: ByteBuffer.self) != nil {}
        }
        return plaintext
    }

    /// As a NIO socket channel would: reads of at most 64 KiB, up to 16 of them before
    /// `channelReadComplete` (the broker's `maxMessagesPerRead`).
    private func deliver(_ ciphertext: ByteBuffer, to channel: EmbeddedChannel) throws {
        var ciphertext = ciphertext
        while ciphertext.readableBytes > 0 {
            for _ in 0..<16 {
                guard let read = ciphertext.readSlice(length: min(ciphertext.readableBytes, 64 * 1024)),
                    read.readableBytes > 0
                else { break }
                channel.pipeline.fireChannelRead(read)
            }
            channel.pipeline.fireChannelReadComplete()
            try channel.throwIfErrorCaught()
        }
    }
}
