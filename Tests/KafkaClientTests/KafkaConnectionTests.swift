import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import XCTest
@testable import KafkaClient

final class KafkaConnectionTests: XCTestCase {
    func testPipelinedRequestsAreMatchedByCorrelationIdEvenWhenAnsweredOutOfOrder() async throws {
        // The fake answers every 10 requests in reverse order; each response names its request's group.
        let server = try await FakeKafkaServer(reverseBatch: 10) { header, body in
            guard header.apiKey == APIKey.findCoordinator.rawValue else { return nil }
            var body = body
            let request = try! FindCoordinatorRequest(from: &body, version: header.apiVersion)
            return .respond(FindCoordinatorResponse(nodeId: 7, host: request.key, port: header.correlationId))
        }.start()
        defer { Task { await server.stop() } }
        let connection = try await KafkaConnection.connect(to: server.address)
        defer { Task { await connection.close() } }

        let answers = try await withThrowingTaskGroup(of: (String, String).self) { group in
            for i in 0..<50 {
                group.addTask {
                    let response = try await connection.send(FindCoordinatorRequest(key: "g\(i)"), version: 3)
                    return ("g\(i)", response.host)
                }
            }
            var answers: [(String, String)] = []
            for try await answer in group { answers.append(answer) }
            return answers
        }
        XCTAssertEqual(answers.count, 50)
        for (asked, answered) in answers { XCTAssertEqual(asked, answered) }
        // All 50 were sent before the first batch of answers came back: they were pipelined.
        XCTAssertEqual(server.requests(for: .findCoordinator).count, 50)
        XCTAssertEqual(
            Set(server.requests(for: .findCoordinator).map(\.correlationId)).count, 50, "correlation ids are unique")
    }

    func testRequestHeaderVersionAndClientIdFollowTheAPIVersion() async throws {
        let server = try await FakeKafkaServer { header, _ in
            header.apiKey == APIKey.metadata.rawValue ? .respond(MetadataResponse()) : nil
        }.start()
        defer { Task { await server.stop() } }
        var configuration = KafkaClientConfiguration()
        configuration.clientId = "client-under-test"
        let connection = try await KafkaConnection.connect(to: server.address, configuration: configuration)
        defer { Task { await connection.close() } }
        _ = try await connection.send(MetadataRequest(topics: nil), version: 8)  // header v1
        _ = try await connection.send(MetadataRequest(topics: nil), version: 12)  // header v2 (flexible)
        let headers = server.requests(for: .metadata)
        XCTAssertEqual(headers.map(\.apiVersion), [8, 12])
        XCTAssertEqual(headers.map(\.headerVersion), [1, 2])
        XCTAssertEqual(Set(server.received.withLockedValue { $0 }.map(\.clientId)), ["client-under-test"])
        // The fake decoded both bodies with the header versions above, so they were framed right.
    }

    func testConnectionDropFailsEveryPendingRequest() async throws {
        let server = try await FakeKafkaServer().start()  // never answers anything but ApiVersions
        defer { Task { await server.stop() } }
        let connection = try await KafkaConnection.connect(to: server.address)
        let results = try await withThrowingTaskGroup(of: Result<MetadataResponse, KafkaClientError>.self) { group in
            for _ in 0..<5 {
                group.addTask {
                    do {
                        return .success(try await connection.send(MetadataRequest(), version: 1))
                    } catch let error as KafkaClientError {
                        return .failure(error)
                    }
                }
            }
            // Once all five are in flight, the broker goes away.
            while server.requests(for: .metadata).count < 5 { try await Task.sleep(for: .milliseconds(5)) }
            await server.dropConnections()
            var results: [Result<MetadataResponse, KafkaClientError>] = []
            for try await result in group { results.append(result) }
            return results
        }
        XCTAssertEqual(results.count, 5)
        for result in results {
            guard case let .failure(.connectionClosed(address, _)) = result else {
                return XCTFail("expected connectionClosed, got \(result)")
            }
            XCTAssertEqual(address, server.address)
            XCTAssertTrue(KafkaClientError.connectionClosed(address, reason: "").isRetriable)
        }
        // Later sends fail at once, the same way.
        do {
            _ = try await connection.send(MetadataRequest(), version: 1)
            XCTFail("send on a dropped connection succeeded")
        } catch let error as KafkaClientError {
            guard case .connectionClosed = error else { return XCTFail("got \(error)") }
        }
        XCTAssertFalse(connection.isActive)
    }

    func testClosingTheConnectionFailsPendingRequestsWithThatReason() async throws {
        let server = try await FakeKafkaServer().start()
        defer { Task { await server.stop() } }
        let connection = try await KafkaConnection.connect(to: server.address)
        async let pending = connection.send(MetadataRequest(), version: 1)
        while server.requests(for: .metadata).isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        await connection.close()
        do {
            _ = try await pending
            XCTFail("answered after close")
        } catch let error as KafkaClientError {
            XCTAssertEqual(error, .connectionClosed(server.address, reason: "closed by the client"))
        }
    }

    func testCancellingTheWaitingTaskFailsTheRequest() async throws {
        let server = try await FakeKafkaServer().start()
        defer { Task { await server.stop() } }
        let connection = try await KafkaConnection.connect(to: server.address)
        defer { Task { await connection.close() } }
        let task = Task { try await connection.send(MetadataRequest(), version: 1) }
        while server.requests(for: .metadata).isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("answered")
        } catch let error as KafkaClientError {
            XCTAssertEqual(error, .cancelled)
        }
        XCTAssertTrue(connection.isActive, "cancelling one request keeps the connection")
    }

    func testConnectFailureIsAConnectionFailedError() async throws {
        let server = try await FakeKafkaServer().start()
        let address = server.address
        await server.stop()
        do {
            _ = try await KafkaConnection.connect(to: address)
            XCTFail("connected to a closed port")
        } catch let error as KafkaClientError {
            guard case .connectionFailed(address, _) = error else { return XCTFail("got \(error)") }
            XCTAssertTrue(error.isRetriable)
        }
    }

    func testNonPlaintextSecurityProtocolsAreRejectedBeforeConnecting() async throws {
        var configuration = KafkaClientConfiguration()
        for proto in [SecurityProtocol.ssl, .saslPlaintext, .saslSSL] {
            configuration.securityProtocol = proto
            do {
                _ = try await KafkaConnection.connect(
                    to: BrokerAddress(host: "127.0.0.1", port: 1), configuration: configuration)
                XCTFail("\(proto) accepted")
            } catch let error as KafkaClientError {
                XCTAssertEqual(error, .unsupportedSecurityProtocol(proto))
            }
            XCTAssertThrowsError(try KafkaCluster(bootstrap: "localhost:9092", configuration: configuration))
        }
    }

    // MARK: KIP-511 and version selection

    func testApiVersionsFallsBackWhenTheBrokerRejectsOurVersion() async throws {
        // A broker that knows ApiVersions only up to v2 answers our v4 in the v0 layout.
        var advertised = FakeKafkaServer.defaultAdvertised
        advertised[.apiVersions] = 0...2
        advertised[.metadata] = 0...7
        let server = try await FakeKafkaServer(advertised: advertised).start()
        defer { Task { await server.stop() } }
        let connection = try await KafkaConnection.connect(to: server.address)
        defer { Task { await connection.close() } }
        XCTAssertEqual(server.requests(for: .apiVersions).map(\.apiVersion), [4, 2])
        XCTAssertEqual(connection.brokerVersions.apiVersionsVersion, 2)
        XCTAssertEqual(connection.brokerVersions[.metadata], 0...7)
        XCTAssertEqual(try connection.version(for: .metadata), 7)
        XCTAssertEqual(try connection.version(for: .offsetFetch), 9)
        XCTAssertEqual(try connection.version(for: .offsetFetch, within: 2...5), 5)
    }

    func testNoCommonVersionIsAClearError() async throws {
        var advertised = FakeKafkaServer.defaultAdvertised
        advertised[.listGroups] = nil
        advertised[.offsetFetch] = 0...1
        let server = try await FakeKafkaServer(advertised: advertised).start()
        defer { Task { await server.stop() } }
        let connection = try await KafkaConnection.connect(to: server.address)
        defer { Task { await connection.close() } }
        XCTAssertThrowsError(try connection.version(for: .listGroups)) { error in
            XCTAssertEqual(
                error as? KafkaClientError,
                .noCommonVersion(server.address, api: .listGroups, client: 0...5, broker: nil))
            XCTAssertTrue("\(error)".contains("no common ListGroups version"), "\(error)")
        }
        XCTAssertThrowsError(try connection.version(for: .offsetFetch, within: 2...9)) { error in
            XCTAssertEqual(
                error as? KafkaClientError,
                .noCommonVersion(server.address, api: .offsetFetch, client: 2...9, broker: 0...1))
        }
        XCTAssertThrowsError(try connection.version(for: .produce)) { error in  // not implemented by the client yet
            guard case .noCommonVersion(_, .produce, _, _)? = error as? KafkaClientError else {
                return XCTFail("\(error)")
            }
        }
    }
}

/// The handler on an EmbeddedChannel: time moves only when the test says so.
final class KafkaChannelHandlerTests: XCTestCase {
    let address = BrokerAddress(host: "broker", port: 9092)

    private func makeChannel(maxResponseBytes: Int = 1 << 20) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        var configuration = KafkaClientConfiguration()
        configuration.maxResponseBytes = maxResponseBytes
        try KafkaConnection.addHandlers(to: channel, address: address, configuration: configuration)
        _ = channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 9092))
        XCTAssertTrue(channel.isActive)
        return channel
    }

    private func send(
        _ channel: EmbeddedChannel, correlationId: Int32, api: APIKey = .metadata, version: Int16 = 1,
        timeout: TimeAmount = .seconds(30)
    ) throws -> EventLoopFuture<ByteBuffer> {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        var frame = ByteBuffer()
        frame.writeInteger(Int32(0))
        try channel.writeOutbound(
            OutgoingRequest(
                correlationId: correlationId, apiKey: api, apiVersion: version,
                frame: frame, timeout: timeout, promise: promise))
        _ = try channel.readOutbound(as: ByteBuffer.self)
        return promise.futureResult
    }

    private func response(correlationId: Int32, body: [UInt8] = [1, 2, 3]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(4 + body.count))
        buffer.writeInteger(correlationId)
        buffer.writeBytes(body)
        return buffer
    }

    /// The outcome of a future that may have completed already (EmbeddedEventLoop runs inline).
    private func outcome(_ future: EventLoopFuture<ByteBuffer>) -> Result<ByteBuffer, any Error>? {
        let box = NIOLockedValueBox<Result<ByteBuffer, any Error>?>(nil)
        future.whenComplete { result in box.withLockedValue { $0 = result } }
        return box.withLockedValue { $0 }
    }

    private func failure(_ future: EventLoopFuture<ByteBuffer>) -> KafkaClientError? {
        guard case let .failure(error)? = outcome(future) else { return nil }
        return error as? KafkaClientError
    }

    private func bytes(_ future: EventLoopFuture<ByteBuffer>) -> [UInt8]? {
        guard case let .success(buffer)? = outcome(future) else { return nil }
        return Array(buffer.readableBytesView)
    }

    func testTimeoutFailsOnlyThatRequestAndALateResponseIsDropped() throws {
        let channel = try makeChannel()
        let slow = try send(channel, correlationId: 1, timeout: .seconds(1))
        let other = try send(channel, correlationId: 2, timeout: .seconds(5))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(999))
        XCTAssertNil(failure(slow))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        XCTAssertEqual(failure(slow), .requestTimedOut(address, api: .metadata, after: .seconds(1)))
        // The late answer to 1 is dropped; 2 is still answered and the connection stays open.
        try channel.writeInbound(response(correlationId: 1))
        try channel.writeInbound(response(correlationId: 2, body: [9]))
        XCTAssertEqual(bytes(other), [9])
        XCTAssertTrue(channel.isActive)
        _ = try? channel.finish()
    }

    func testUnknownCorrelationIdClosesTheConnectionAndFailsPendingRequests() throws {
        let channel = try makeChannel()
        let pending = try send(channel, correlationId: 1)
        _ = try? channel.writeInbound(response(correlationId: 42))
        guard case .connectionClosed(_, let reason)? = failure(pending) else {
            return XCTFail("pending request not failed")
        }
        XCTAssertTrue(reason.contains("unknown correlation id 42"), reason)
        XCTAssertFalse(channel.isActive)
    }

    func testOversizedResponseFrameClosesTheConnection() throws {
        let channel = try makeChannel(maxResponseBytes: 1000)
        let pending = try send(channel, correlationId: 1)
        var huge = ByteBuffer()
        huge.writeInteger(Int32(1_000_000))
        huge.writeInteger(Int32(1))
        _ = try? channel.writeInbound(huge)
        guard case .connectionClosed(_, let reason)? = failure(pending) else {
            return XCTFail("pending request not failed")
        }
        XCTAssertTrue(reason.contains("exceeds"), reason)
        XCTAssertFalse(channel.isActive)
    }

    func testResponseHeaderVersionFollowsTheRequest() throws {
        // A flexible Metadata version has response header v1: a tagged-field section after the id.
        let channel = try makeChannel()
        let flexible = try send(channel, correlationId: 5, api: .metadata, version: 12)
        try channel.writeInbound(response(correlationId: 5, body: [0, 0xAA]))  // 0 tagged fields, then body
        XCTAssertEqual(bytes(flexible), [0xAA])
        // ApiVersions keeps header v0 even when flexible.
        let apiVersions = try send(channel, correlationId: 6, api: .apiVersions, version: 3)
        try channel.writeInbound(response(correlationId: 6, body: [0, 0xBB]))
        XCTAssertEqual(bytes(apiVersions), [0, 0xBB])
        _ = try? channel.finish()
    }

    func testCancellationFailsTheRequest() throws {
        let channel = try makeChannel()
        let pending = try send(channel, correlationId: 3)
        channel.pipeline.triggerUserOutboundEvent(CancelRequest(correlationId: 3), promise: nil)
        XCTAssertEqual(failure(pending), .cancelled)
        try channel.writeInbound(response(correlationId: 3))  // dropped, not a violation
        XCTAssertTrue(channel.isActive)
        _ = try? channel.finish()
    }

    /// A TLS handshake can fail before the first request is written (the server's certificate
    /// arrives while the connecting task is still busy). The reason is kept for that request,
    /// so it fails with "certificate verify failed", not with a bare "connection closed".
    func testTheFirstCloseReasonIsKeptForRequestsWrittenAfterTheClose() throws {
        struct HandshakeFailed: Error, CustomStringConvertible {
            var description: String { "TLS handshake failed: certificate verify failed" }
        }
        let channel = EmbeddedChannel()
        let shared = NIOLockedValueBox(ConnectionShared())
        try KafkaConnection.addHandlers(
            to: channel, address: address, configuration: KafkaClientConfiguration(),
            shared: shared)
        _ = channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 9092))
        channel.pipeline.fireErrorCaught(HandshakeFailed())
        XCTAssertFalse(channel.isActive)
        XCTAssertEqual(shared.withLockedValue(\.closeReason), "TLS handshake failed: certificate verify failed")
        _ = try? channel.finish()
    }

    func testABrokerThatClosesFirstIsTheReasonKept() throws {
        let channel = EmbeddedChannel()
        let shared = NIOLockedValueBox(ConnectionShared())
        try KafkaConnection.addHandlers(
            to: channel, address: address, configuration: KafkaClientConfiguration(),
            shared: shared)
        _ = channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 9092))
        channel.pipeline.fireChannelInactive()
        XCTAssertEqual(shared.withLockedValue(\.closeReason), "closed by the broker")
        _ = try? channel.finish()
    }
}
