import Foundation
import NIOCore
import NIOPosix
import TLS
import XCTest

final class TLSTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private var certs: TestCertificates.Files!
    private var servers: [any Channel] = []

    override func setUpWithError() throws {
        certs = try TestCertificates.files()
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    }

    override func tearDownWithError() throws {
        for server in servers { try? server.close().wait() }
        try group.syncShutdownGracefully()
    }

    private func serverContext(
        clientAuth: TLSConfiguration.ClientAuth = .none, chain: String? = nil, key: String? = nil
    ) throws -> TLSContext {
        try TLSContext(
            configuration: .server(
                certificateChainFile: chain ?? certs.path("server.pem"),
                privateKeyFile: key ?? certs.path("server.key"),
                caFile: clientAuth == .none ? nil : certs.path("ca.pem"), clientAuth: clientAuth))
    }

    private func clientContext(certificate: String? = nil, maximumVersion: TLSConfiguration.Version? = nil) throws
        -> TLSContext
    {
        try TLSContext(
            configuration: .client(
                caFile: certs.path("ca.pem"),
                certificateChainFile: certificate.map { certs.path("\($0).pem") },
                privateKeyFile: certificate.map { certs.path("\($0).key") },
                maximumVersion: maximumVersion))
    }

    private func start(_ context: TLSContext, _ record: ServerRecord) throws -> Int {
        let server = try startEchoServer(group: group, context: context, record: record)
        servers.append(server)
        return try XCTUnwrap(server.localAddress?.port)
    }

    private func payload(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    // MARK: Round trips

    func testEchoOverTLS13() throws {
        let record = ServerRecord()
        let port = try start(try serverContext(), record)
        let connection = try connect(
            group: group, port: port, context: try clientContext(), serverHostname: "localhost",
            payload: payload("hello over TLS"))
        let handshake = try waitBounded(connection.handshake)
        XCTAssertEqual(handshake.protocolVersion, "TLSv1.3")
        XCTAssertEqual(handshake.peerSubject, "CN=localhost")
        XCTAssertFalse(handshake.cipher.isEmpty)
        XCTAssertEqual(String(buffer: try waitBounded(connection.received)), "hello over TLS")
        try connection.channel.close().wait()
        XCTAssertTrue(waitUntil { record.handshakes.withLockedValue { $0.count } == 1 })
        let serverSide = record.handshakes.withLockedValue { $0[0] }
        XCTAssertNil(serverSide.peerSubject, "no client certificate was requested")
        XCTAssertEqual(serverSide.serverName, "localhost", "the client's SNI")
        XCTAssertEqual(serverSide.protocolVersion, "TLSv1.3")
    }

    func testEchoOverTLS12ToAnIPAddress() throws {
        let record = ServerRecord()
        let port = try start(try serverContext(), record)
        let client = try clientContext(maximumVersion: .tls1_2)
        let connection = try connect(
            group: group, port: port, context: client, serverHostname: "127.0.0.1",
            payload: payload("hello over TLS 1.2"))
        let handshake = try waitBounded(connection.handshake)
        XCTAssertEqual(handshake.protocolVersion, "TLSv1.2")
        XCTAssertEqual(String(buffer: try waitBounded(connection.received)), "hello over TLS 1.2")
        try connection.channel.close().wait()
    }

    func testLargeTransfersBothWaysIntact() throws {
        let record = ServerRecord()
        let port = try start(try serverContext(), record)
        for version in [TLSConfiguration.Version.tls1_2, .tls1_3] {
            var generator = SystemRandomNumberGenerator()
            let bytes = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let connection = try connect(
                group: group, port: port, context: try clientContext(maximumVersion: version),
                serverHostname: "localhost", payload: ByteBuffer(bytes: bytes))
            let echoed = try waitBounded(connection.received, seconds: 30)
            XCTAssertEqual(echoed.readableBytes, bytes.count, "\(version)")
            XCTAssertTrue(echoed.readableBytesView.elementsEqual(bytes), "\(version): 1 MiB echoed intact")
            try connection.channel.close().wait()
        }
        XCTAssertEqual(record.errors.withLockedValue { $0 }, [])
    }

    // MARK: Verification failures

    func testClientRejectsServerWhoseCertificateDoesNotMatchTheHostname() throws {
        let record = ServerRecord()
        let port = try start(try serverContext(), record)
        let connection = try connect(
            group: group, port: port, context: try clientContext(), serverHostname: "wrong.example",
            payload: payload("x"))
        XCTAssertThrowsError(try waitBounded(connection.handshake)) { error in
            guard case TLSError.handshakeFailed(let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("certificate verify failed"), reason)
            XCTAssertTrue(reason.contains("hostname mismatch"), reason)
        }
        XCTAssertNoThrow(try waitBounded(connection.channel.closeFuture))
    }

    func testRequiredClientAuthRejectsClientWithoutCertificate() throws {
        let record = ServerRecord()
        let port = try start(try serverContext(clientAuth: .required), record)
        let connection = try connect(
            group: group, port: port, context: try clientContext(), serverHostname: "localhost",
            payload: payload("no cert"))
        XCTAssertThrowsError(try waitBounded(connection.received))
        XCTAssertNoThrow(try waitBounded(connection.channel.closeFuture))
        XCTAssertTrue(waitUntil { !record.errors.withLockedValue { $0 }.isEmpty })
        let error = record.errors.withLockedValue { $0[0] }
        XCTAssertTrue(error.contains("peer did not return a certificate"), error)
        XCTAssertEqual(record.handshakes.withLockedValue { $0.count }, 0)
    }

    func testRequiredClientAuthRejectsClientFromUntrustedCA() throws {
        let record = ServerRecord()
        let port = try start(try serverContext(clientAuth: .required), record)
        let connection = try connect(
            group: group, port: port, context: try clientContext(certificate: "mallory"), serverHostname: "localhost",
            payload: payload("untrusted"))
        XCTAssertThrowsError(try waitBounded(connection.received))
        XCTAssertNoThrow(try waitBounded(connection.channel.closeFuture))
        XCTAssertTrue(waitUntil { !record.errors.withLockedValue { $0 }.isEmpty })
        let error = record.errors.withLockedValue { $0[0] }
        XCTAssertTrue(error.contains("certificate verify failed"), error)
        XCTAssertEqual(record.handshakes.withLockedValue { $0.count }, 0)
    }

    func testRequiredClientAuthRejectsAnExpiredClientCertificateAndServesOthers() throws {
        let record = ServerRecord()
        let port = try start(try serverContext(clientAuth: .required), record)
        let expired = try connect(
            group: group, port: port, context: try clientContext(certificate: "expired-alice"),
            serverHostname: "localhost", payload: payload("expired"))
        // The client gets the server's "certificate expired" alert, or a reset if the close wins.
        XCTAssertThrowsError(try waitBounded(expired.received))
        XCTAssertNoThrow(try waitBounded(expired.channel.closeFuture))
        XCTAssertTrue(waitUntil { !record.errors.withLockedValue { $0 }.isEmpty })
        let error = record.errors.withLockedValue { $0[0] }
        XCTAssertTrue(error.contains("certificate verify failed (certificate has expired)"), error)
        // The same server goes on serving a valid client.
        let good = try connect(
            group: group, port: port, context: try clientContext(certificate: "alice"),
            serverHostname: "localhost", payload: payload("valid"))
        XCTAssertEqual(String(buffer: try waitBounded(good.received)), "valid")
        try good.channel.close().wait()
        XCTAssertEqual(record.handshakes.withLockedValue { $0.count }, 1)
    }

    func testClientRejectsAnExpiredServerCertificate() throws {
        let record = ServerRecord()
        let context = try serverContext(chain: certs.path("expired-server.pem"), key: certs.path("expired-server.key"))
        let port = try start(context, record)
        let connection = try connect(
            group: group, port: port, context: try clientContext(), serverHostname: "localhost", payload: payload("x"))
        XCTAssertThrowsError(try waitBounded(connection.handshake)) { error in
            guard case TLSError.handshakeFailed(let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(reason, "certificate verify failed (certificate has expired)")
        }
        XCTAssertNoThrow(try waitBounded(connection.channel.closeFuture))
    }

    func testCertificateValidityProblemNamesTheFileAndTheDate() throws {
        XCTAssertNil(try serverContext().certificateValidityProblem)
        XCTAssertNil(try clientContext().certificateValidityProblem, "no certificate of its own")
        let expired = try serverContext(chain: certs.path("expired-server.pem"), key: certs.path("expired-server.key"))
        XCTAssertEqual(
            expired.certificateValidityProblem,
            "certificate \(certs.path("expired-server.pem")) expired on Jan  2 00:00:00 2020 GMT")
        XCTAssertEqual(
            try clientContext(certificate: "expired-alice").certificateValidityProblem,
            "certificate \(certs.path("expired-alice.pem")) expired on Jan  2 00:00:00 2020 GMT")
    }

    func testMutualTLSPeerSubjectIsMappedToAPrincipal() throws {
        let record = ServerRecord()
        let port = try start(try serverContext(clientAuth: .required), record)
        let connection = try connect(
            group: group, port: port, context: try clientContext(certificate: "alice"), serverHostname: "localhost",
            payload: payload("from alice"))
        XCTAssertEqual(String(buffer: try waitBounded(connection.received)), "from alice")
        try connection.channel.close().wait()
        XCTAssertTrue(waitUntil { record.handshakes.withLockedValue { $0.count } == 1 })
        let subject = try XCTUnwrap(record.handshakes.withLockedValue { $0[0] }.peerSubject)
        XCTAssertEqual(subject, "CN=alice,OU=eng,O=Example")
        let mapper = try PrincipalMapper(
            rules: "RULE:^CN=([^,]*),OU=ops,.*$/$1-ops/, RULE:^CN=([^,]*),OU=eng,.*$/$1/U, DEFAULT")
        XCTAssertEqual(mapper.principal(forSubject: subject), "User:ALICE")
        XCTAssertEqual(PrincipalMapper.default.principal(forSubject: subject), "User:CN=alice,OU=eng,O=Example")
    }

    func testRequestedClientAuthAcceptsClientWithoutCertificate() throws {
        let record = ServerRecord()
        let port = try start(try serverContext(clientAuth: .requested), record)
        let connection = try connect(
            group: group, port: port, context: try clientContext(), serverHostname: "localhost",
            payload: payload("anonymous"))
        XCTAssertEqual(String(buffer: try waitBounded(connection.received)), "anonymous")
        try connection.channel.close().wait()
        XCTAssertTrue(waitUntil { record.handshakes.withLockedValue { $0.count } == 1 })
        XCTAssertNil(record.handshakes.withLockedValue { $0[0] }.peerSubject)
    }

    func testPlaintextClientToTLSServerFailsClearlyAndIsClosed() throws {
        let record = ServerRecord()
        let port = try start(try serverContext(), record)
        // A Kafka ApiVersions v0 request, sent in the clear.
        var request = ByteBuffer()
        request.writeInteger(Int32(10))
        request.writeInteger(Int16(18))
        request.writeInteger(Int16(0))
        request.writeInteger(Int32(1))
        request.writeInteger(Int16(-1))
        let channel = try ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).wait()
        try channel.writeAndFlush(request).wait()
        XCTAssertNoThrow(try waitBounded(channel.closeFuture), "the server closes the connection")
        XCTAssertTrue(waitUntil { !record.errors.withLockedValue { $0 }.isEmpty })
        let error = record.errors.withLockedValue { $0[0] }
        XCTAssertTrue(error.contains("TLS handshake failed"), error)
        XCTAssertTrue(error.contains("wrong version number"), error)
    }

    // MARK: Reload

    func testReloadServesTheNewCertificateToNewConnections() throws {
        let directory = certs.directory + "/reload-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let chain = directory + "/server.pem"
        let key = directory + "/server.key"
        try FileManager.default.copyItem(atPath: certs.path("server.pem"), toPath: chain)
        try FileManager.default.copyItem(atPath: certs.path("server.key"), toPath: key)
        let context = try serverContext(chain: chain, key: key)
        XCTAssertFalse(try context.reloadIfFilesChanged(), "nothing changed yet")
        let record = ServerRecord()
        let port = try start(context, record)
        let client = try clientContext()

        let first = try connect(
            group: group, port: port, context: client, serverHostname: "localhost", payload: payload("one"))
        XCTAssertEqual(try waitBounded(first.handshake).peerSubject, "CN=localhost")
        XCTAssertEqual(String(buffer: try waitBounded(first.received)), "one")

        // Renew: replace both files (as certificate tooling does, by rename), then reload.
        for (source, target) in [("server-renewed.pem", chain), ("server-renewed.key", key)] {
            try FileManager.default.copyItem(atPath: certs.path(source), toPath: target + ".new")
            XCTAssertEqual(rename(target + ".new", target), 0)
        }
        XCTAssertTrue(try context.reloadIfFilesChanged())
        XCTAssertEqual(context.generation, 2)

        let second = try connect(
            group: group, port: port, context: client, serverHostname: "localhost", payload: payload("two"))
        XCTAssertEqual(try waitBounded(second.handshake).peerSubject, "CN=localhost-renewed,O=Example")
        XCTAssertEqual(String(buffer: try waitBounded(second.received)), "two")

        // The first connection keeps working on its original context.
        let more = first.channel.eventLoop.makePromise(of: Void.self)
        first.channel.writeAndFlush(payload("still here"), promise: more)
        XCTAssertNoThrow(try waitBounded(more.futureResult))
        try first.channel.close().wait()
        try second.channel.close().wait()

        // A broken renewal keeps the current context.
        try "not a key".write(toFile: key, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try context.reload()) { error in
            XCTAssertTrue("\(error)".contains(key), "\(error)")
        }
        XCTAssertEqual(context.generation, 2)
        let third = try connect(
            group: group, port: port, context: client, serverHostname: "localhost", payload: payload("three"))
        XCTAssertEqual(try waitBounded(third.handshake).peerSubject, "CN=localhost-renewed,O=Example")
        try third.channel.close().wait()
    }

    // MARK: Configuration errors

    func testConfigurationErrorsNameTheFile() throws {
        let missing = certs.directory + "/missing.pem"
        XCTAssertThrowsError(try serverContext(chain: missing)) { error in
            XCTAssertEqual(error as? TLSError, .fileNotFound(kind: "certificate chain", path: missing))
            XCTAssertTrue("\(error)".contains(missing))
        }
        XCTAssertThrowsError(try serverContext(key: certs.path("alice.key"))) { error in
            guard case TLSError.keyMismatch(let cert, let key, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(cert, certs.path("server.pem"))
            XCTAssertEqual(key, certs.path("alice.key"))
            XCTAssertFalse(reason.isEmpty)
        }
        XCTAssertThrowsError(try serverContext(chain: certs.path("server.ext"))) { error in
            guard case TLSError.invalidFile(kind: "certificate chain", path: _, let reason) = error else {
                return XCTFail("\(error)")
            }
            XCTAssertFalse(reason.isEmpty)
        }
        XCTAssertThrowsError(try TLSContext(configuration: TLSConfiguration(role: .server))) { error in
            guard case TLSError.invalidConfiguration = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(
            try TLSContext(
                configuration: .server(
                    certificateChainFile: certs.path("server.pem"), privateKeyFile: certs.path("server.key"),
                    clientAuth: .required))
        ) { error in
            guard case TLSError.invalidConfiguration = error else { return XCTFail("\(error)") }
        }
        // A client verifying host names needs one.
        XCTAssertThrowsError(try OpenSSLHandler(tlsContext: try clientContext()))
    }
}
