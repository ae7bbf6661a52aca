import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import TLS
import XCTest

/// How `OpenSSLHandler` batches: ciphertext goes out once per flush, plaintext goes up once per
/// burst of reads. Two handlers back to back on embedded channels, no sockets.
final class HandlerBufferingTests: XCTestCase {
    private var certs: TestCertificates.Files!

    override func setUpWithError() throws { certs = try TestCertificates.files() }

    private func pair(serverSuites: [String]? = nil) throws -> (client: EmbeddedChannel, server: EmbeddedChannel) {
        let server = EmbeddedChannel(
            handler: try OpenSSLHandler(
                tlsContext: TLSContext(
                    configuration: .server(
                        certificateChainFile: certs.path("server.pem"), privateKeyFile: certs.path("server.key"),
                        cipherSuites: serverSuites))))
        let client = EmbeddedChannel(
            handler: try OpenSSLHandler(
                tlsContext: TLSContext(configuration: .client(caFile: certs.path("ca.pem"))),
                serverHostname: "localhost"))
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 9093)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
        try exchange(client, server)
        return (client, server)
    }

    /// Hands every pending ciphertext buffer to the other side, one read each, until quiet.
    private func exchange(_ client: EmbeddedChannel, _ server: EmbeddedChannel) throws {
        var moved = true
        while moved {
            moved = false
            while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                try server.writeInbound(bytes); moved = true
            }
            while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                try client.writeInbound(bytes); moved = true
            }
        }
    }

    private func handshake(_ channel: EmbeddedChannel) throws -> TLSHandshakeCompleted? {
        try channel.pipeline.syncOperations.handler(type: OpenSSLHandler.self).handshakeResult
    }

    func testWritesAreEncryptedAtOnceButSentAsOneBufferAtTheFlush() throws {
        let (client, server) = try pair()
        let completed = NIOLockedValueBox(0)
        for text in ["first ", "second ", "third"] {
            client.write(ByteBuffer(string: text)).whenSuccess { completed.withLockedValue { $0 += 1 } }
        }
        XCTAssertNil(try client.readOutbound(as: ByteBuffer.self), "nothing leaves before the flush")
        XCTAssertEqual(completed.withLockedValue { $0 }, 0)

        client.flush()
        let ciphertext = try XCTUnwrap(client.readOutbound(as: ByteBuffer.self))
        XCTAssertNil(try client.readOutbound(as: ByteBuffer.self), "three writes, one ciphertext buffer")
        XCTAssertEqual(completed.withLockedValue { $0 }, 3, "the promises of all three writes complete with it")

        try server.writeInbound(ciphertext)
        XCTAssertEqual(try server.readInbound(as: ByteBuffer.self).map { String(buffer: $0) }, "first second third")
    }

    func testPlaintextOfOneBurstOfReadsGoesUpAsOneBuffer() throws {
        let (client, server) = try pair()
        var message = ByteBuffer()
        message.writeRepeatingByte(0x61, count: 200_000)  // 13 TLS records
        try client.writeAndFlush(message).wait()
        var ciphertext = try XCTUnwrap(client.readOutbound(as: ByteBuffer.self))

        // As a socket delivers it: 64 KiB reads, then one read-complete.
        while let read = ciphertext.readSlice(length: min(ciphertext.readableBytes, 65_536)), read.readableBytes > 0 {
            server.pipeline.fireChannelRead(read)
        }
        XCTAssertNil(try server.readInbound(as: ByteBuffer.self), "held until the burst ends")
        server.pipeline.fireChannelReadComplete()
        let plaintext = try XCTUnwrap(server.readInbound(as: ByteBuffer.self))
        XCTAssertEqual(plaintext.readableBytes, 200_000)
        XCTAssertNil(try server.readInbound(as: ByteBuffer.self))
    }

    func testARecordSplitAcrossReadsIsJoined() throws {
        let (client, server) = try pair()
        try client.writeAndFlush(ByteBuffer(string: "split across three reads")).wait()
        var ciphertext = try XCTUnwrap(client.readOutbound(as: ByteBuffer.self))
        var received = ""
        for length in [3, 10, ciphertext.readableBytes - 13] {
            try server.writeInbound(ciphertext.readSlice(length: length)!)
            while let part = try server.readInbound(as: ByteBuffer.self) { received += String(buffer: part) }
        }
        XCTAssertEqual(received, "split across three reads")
    }

    func testServerPrefersAES128GCMAndTakesAConfiguredList() throws {
        let (client, server) = try pair()
        XCTAssertEqual(try handshake(client)?.cipher, "TLS_AES_128_GCM_SHA256")
        _ = try client.finish(acceptAlreadyClosed: true)
        _ = try server.finish(acceptAlreadyClosed: true)

        let (client256, server256) = try pair(serverSuites: ["TLS_AES_256_GCM_SHA384"])
        XCTAssertEqual(try handshake(client256)?.cipher, "TLS_AES_256_GCM_SHA384")
        _ = try client256.finish(acceptAlreadyClosed: true)
        _ = try server256.finish(acceptAlreadyClosed: true)
    }

    func testUnknownCipherSuitesAreNamed() throws {
        for name in ["TLS_AES_512_GCM_SHA1024", "NOT-A-CIPHER"] {
            XCTAssertThrowsError(
                try TLSContext(
                    configuration: .server(
                        certificateChainFile: certs.path("server.pem"), privateKeyFile: certs.path("server.key"),
                        cipherSuites: [name]))
            ) { error in
                guard case TLSError.invalidConfiguration(let message) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains(name), message)
            }
        }
    }

    func testCloseSendsPendingDataThenCloseNotify() throws {
        let (client, server) = try pair()
        client.write(ByteBuffer(string: "last words"), promise: nil)
        let closed = client.close()
        var received = ""
        while let bytes = try client.readOutbound(as: ByteBuffer.self) {
            _ = try? server.writeInbound(bytes)
            while let part = try server.readInbound(as: ByteBuffer.self) { received += String(buffer: part) }
        }
        XCTAssertEqual(received, "last words")
        try closed.wait()
        XCTAssertFalse(server.isActive, "the server answers close_notify by closing")
    }
}
