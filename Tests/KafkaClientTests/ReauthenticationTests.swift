import BrokerCore
import BrokerServer
import KafkaProtocol
import KafkaRecords
import ListenerSettings
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Security
import ServiceLifecycle
import XCTest
@testable import KafkaClient

/// What a fake SASL/PLAIN broker with a session lifetime saw, and what a real broker would have
/// refused: a request other than SaslHandshake/SaslAuthenticate during an exchange, or after the
/// session's end (both close the connection on a Kafka broker).
struct FakeSaslState: Sendable {
    var handshakes = 0
    var authentications = 0
    /// Between a SaslHandshake and the moment its exchange's answer is sent.
    var inExchange = false
    var answerSentAt: NIODeadline?
    var sessionEndsAt: NIODeadline?
    var violations: [String] = []
    /// FindCoordinator keys in arrival order (the tests' requests name themselves that way).
    var keys: [String] = []
}

/// A fake broker speaking SASL/PLAIN (user alice, password secret) whose sessions last
/// `lifetimeMs`. Re-authentications are answered after `reauthenticationDelay`; the SaslAuthenticate
/// numbered `refuse` (1-based) is refused and the connection closed after `refusalDelay`.
/// FindCoordinator is answered with its key as host, except the key "never".
func fakeSaslBroker(
    lifetimeMs: Int64, reauthenticationDelay: TimeAmount = .zero, refuse: Int? = nil,
    refusalDelay: TimeAmount = .zero, state: NIOLockedValueBox<FakeSaslState>
) -> FakeKafkaServer {
    var advertised = FakeKafkaServer.defaultAdvertised
    advertised[.saslHandshake] = 0...1
    advertised[.saslAuthenticate] = 0...2
    return FakeKafkaServer(advertised: advertised) { header, body in
        let now = NIODeadline.now()
        var body = body
        switch APIKey(rawValue: header.apiKey) {
        case .apiVersions?:
            return nil
        case .saslHandshake?:
            state.withLockedValue {
                $0.handshakes += 1; $0.inExchange = true
            }
            return .respond(SaslHandshakeResponse(errorCode: 0, mechanisms: ["PLAIN"]))
        case .saslAuthenticate?:
            let request = try! SaslAuthenticateRequest(from: &body, version: header.apiVersion)
            let number = state.withLockedValue {
                $0.authentications += 1; return $0.authentications
            }
            if number == refuse || request.authBytes != Array("\0alice\0secret".utf8) {
                return .respondAndClose(
                    SaslAuthenticateResponse(
                        errorCode: 58, errorMessage: "Authentication failed: Invalid username or password",
                        authBytes: [], sessionLifetimeMs: 0), after: refusalDelay)
            }
            let delay = number > 1 ? reauthenticationDelay : .zero
            state.withLockedValue { state in
                state.inExchange = false
                state.answerSentAt = now + delay
                state.sessionEndsAt = now + .milliseconds(lifetimeMs)
            }
            let answer = SaslAuthenticateResponse(
                errorCode: 0, errorMessage: nil, authBytes: [], sessionLifetimeMs: lifetimeMs)
            return delay == .zero ? .respond(answer) : .delayed(answer, delay)
        default:
            var key = "?"
            if header.apiKey == APIKey.findCoordinator.rawValue {
                key = (try? FindCoordinatorRequest(from: &body, version: header.apiVersion))?.key ?? "?"
            }
            let api = APIKey(rawValue: header.apiKey)?.name ?? "\(header.apiKey)"
            state.withLockedValue { state in
                if state.inExchange || state.answerSentAt.map({ now < $0 }) ?? true {
                    state.violations.append("\(api) \(key) during a SASL exchange")
                } else if let end = state.sessionEndsAt, now >= end {
                    state.violations.append("\(api) \(key) \(now - end) after the session ended")
                }
                state.keys.append(key)
            }
            if key == "never" { return FakeKafkaServer.Reply.none }
            return .respond(FindCoordinatorResponse(nodeId: 1, host: key, port: 9092))
        }
    }
}

func saslConfiguration(fraction: Double? = 0.5) -> KafkaClientConfiguration {
    var configuration = KafkaClientConfiguration()
    configuration.securityProtocol = .saslPlaintext
    configuration.sasl = SaslCredentials(mechanism: .plain, username: "alice", password: "secret")
    if let fraction {
        configuration.reauthenticationWindow = fraction...fraction
        configuration.minimumReauthenticationInterval = .zero
    }
    return configuration
}

/// Waits (at most `seconds`) for `condition`.
func eventually(within seconds: Double = 5, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        try await Task.sleep(for: .milliseconds(5))
    }
    return true
}

/// KIP-368 on the client: the session lifetime from SaslAuthenticate, re-authentication on the
/// same connection before it ends, requests held meanwhile and sent in order afterwards.
final class ReauthenticationTests: XCTestCase {
    func testTheDelayIsAFractionOfTheLifetimeButAtLeastTheMinimumInterval() {
        XCTAssertEqual(
            KafkaConnection.reauthenticationDelay(lifetimeMs: 10_000, fraction: 0.85, minimumInterval: .seconds(1)),
            .milliseconds(8_500))
        XCTAssertEqual(
            KafkaConnection.reauthenticationDelay(lifetimeMs: 1_000, fraction: 0.9, minimumInterval: .seconds(1)),
            .milliseconds(1_000), "Kafka refuses re-authentication within a second of the previous one")
        XCTAssertEqual(
            KafkaConnection.reauthenticationDelay(lifetimeMs: 300, fraction: 0.5, minimumInterval: .zero),
            .milliseconds(150))
        // An absurd lifetime is simply far away (no overflow).
        XCTAssertGreaterThan(
            KafkaConnection.reauthenticationDelay(lifetimeMs: .max, fraction: 0.95, minimumInterval: .seconds(1)),
            .hours(24 * 365 * 100))
        let window = KafkaClientConfiguration().reauthenticationWindow
        XCTAssertEqual(window, 0.85...0.95, "Java's client window")
    }

    func testReauthenticatesBeforeEachSessionEndsWithoutLosingOrReorderingRequests() async throws {
        let state = NIOLockedValueBox(FakeSaslState())
        // Sessions of 300 ms, renewed at 150 ms; each renewal takes 40 ms to be answered, during
        // which requests keep being issued.
        let server = try await fakeSaslBroker(lifetimeMs: 300, reauthenticationDelay: .milliseconds(40), state: state)
            .start()
        defer { Task { await server.stop() } }
        let connection = try await KafkaConnection.connect(to: server.address, configuration: saslConfiguration())
        defer { Task { await connection.close() } }
        XCTAssertEqual(connection.sessionLifetime, .milliseconds(300))
        XCTAssertEqual(connection.reauthenticationCount, 0)

        var sent = 0
        let until = ContinuousClock.now.advanced(by: .milliseconds(1200))
        while ContinuousClock.now < until {
            // Bursts of pipelined requests, issued without waiting: some are written before a
            // renewal starts, some while it runs (held), some after.
            var pending: [(String, PendingResponse<FindCoordinatorRequest>)] = []
            for _ in 0..<8 {
                let key = "k\(sent)"
                pending.append((key, try connection.enqueue(FindCoordinatorRequest(key: key), version: 3)))
                sent += 1
            }
            for (key, request) in pending {
                let answer = try await request.response()
                XCTAssertEqual(answer.host, key)
            }
        }
        XCTAssertTrue(connection.isActive)
        let seen = state.withLockedValue { $0 }
        XCTAssertEqual(seen.violations, [], "a broker would have closed the connection")
        XCTAssertEqual(seen.keys, (0..<sent).map { "k\($0)" }, "every request arrived once, in the order issued")
        XCTAssertGreaterThanOrEqual(connection.reauthenticationCount, 4, "1.2 s of 300 ms sessions renewed at 150 ms")
        XCTAssertEqual(
            seen.handshakes, connection.reauthenticationCount + 1, "one login, then one exchange per renewal")
        XCTAssertEqual(connection.sessionLifetime, .milliseconds(300))
    }

    func testARequestIssuedDuringAReauthenticationWaitsForIt() async throws {
        let state = NIOLockedValueBox(FakeSaslState())
        let server = try await fakeSaslBroker(lifetimeMs: 200, reauthenticationDelay: .milliseconds(150), state: state)
            .start()
        defer { Task { await server.stop() } }
        let connection = try await KafkaConnection.connect(to: server.address, configuration: saslConfiguration())
        defer { Task { await connection.close() } }
        // The renewal has begun when the second handshake reaches the broker; its answer is 150 ms away.
        let renewing = try await eventually { server.requests(for: .saslHandshake).count == 2 }
        XCTAssertTrue(renewing)
        let started = ContinuousClock.now
        let answer = try await connection.send(FindCoordinatorRequest(key: "held"), version: 3)
        XCTAssertEqual(answer.host, "held")
        XCTAssertGreaterThan(ContinuousClock.now - started, .milliseconds(50), "held until the exchange ended")
        XCTAssertEqual(state.withLockedValue { $0.violations }, [])
        XCTAssertEqual(connection.reauthenticationCount, 1)
    }

    func testAFailedReauthenticationClosesTheConnectionWithAClearErrorAndTheClusterReconnects() async throws {
        let state = NIOLockedValueBox(FakeSaslState())
        // The first renewal (the second SaslAuthenticate) is refused 150 ms after it arrives.
        let server = try await fakeSaslBroker(
            lifetimeMs: 200, refuse: 2, refusalDelay: .milliseconds(150), state: state
        ).start()
        defer { Task { await server.stop() } }
        let cluster = try KafkaCluster(bootstrapServers: [server.address], configuration: saslConfiguration())
        let first = try await cluster.anyConnection()
        // In flight when the renewal starts (never answered), and issued while it runs (held).
        let inFlight = try first.enqueue(FindCoordinatorRequest(key: "never"), version: 3)
        let renewing = try await eventually { server.requests(for: .saslAuthenticate).count == 2 }
        XCTAssertTrue(renewing)
        let held = try first.enqueue(FindCoordinatorRequest(key: "held"), version: 3)
        for pending in [inFlight, held] {
            do {
                _ = try await pending.response()
                XCTFail("answered on a connection whose re-authentication failed")
            } catch let error as KafkaClientError {
                guard case let .connectionClosed(address, reason) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(address, server.address)
                XCTAssertTrue(reason.hasPrefix("SASL re-authentication failed: "), reason)
                XCTAssertTrue(reason.contains("Invalid username or password"), reason)
                XCTAssertTrue(error.isRetriable, "the usual reconnect path applies")
            }
        }
        XCTAssertFalse(first.isActive)
        XCTAssertEqual(state.withLockedValue { $0.keys }, ["never"], "the held request never reached the broker")
        // The cluster opens a new connection (a new login) for the next operation.
        let second = try await cluster.anyConnection()
        XCTAssertFalse(first === second)
        XCTAssertTrue(second.isActive)
        XCTAssertEqual(server.requests(for: .saslHandshake).count, 3)
        await cluster.close()
    }

    func testNoLifetimeMeansNoReauthentication() async throws {
        let state = NIOLockedValueBox(FakeSaslState())
        let server = try await fakeSaslBroker(lifetimeMs: 0, state: state).start()
        defer { Task { await server.stop() } }
        let connection = try await KafkaConnection.connect(to: server.address, configuration: saslConfiguration())
        defer { Task { await connection.close() } }
        XCTAssertNil(connection.sessionLifetime)
        try await Task.sleep(for: .milliseconds(100))
        _ = try await connection.send(FindCoordinatorRequest(key: "k"), version: 3)
        XCTAssertEqual(server.requests(for: .saslHandshake).count, 1)
        XCTAssertEqual(connection.reauthenticationCount, 0)
    }

    func testClosingTheConnectionStopsTheRenewals() async throws {
        let state = NIOLockedValueBox(FakeSaslState())
        let server = try await fakeSaslBroker(lifetimeMs: 100, state: state).start()
        defer { Task { await server.stop() } }
        let connection = try await KafkaConnection.connect(to: server.address, configuration: saslConfiguration())
        await connection.close()
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertEqual(server.requests(for: .saslHandshake).count, 1)
        XCTAssertNil(connection.reauthentication.withLockedValue { $0.scheduled }, "nothing left scheduled")
    }
}

/// The re-authentication gate of `KafkaChannelHandler` on an EmbeddedChannel.
final class ReauthenticationGateTests: XCTestCase {
    let address = BrokerAddress(host: "broker", port: 9092)

    private func makeChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try KafkaConnection.addHandlers(to: channel, address: address, configuration: KafkaClientConfiguration())
        _ = channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 9092))
        return channel
    }

    /// Writes a request whose frame is its correlation id; returns its response future.
    private func write(_ channel: EmbeddedChannel, _ id: Int32, authentication: Bool = false) throws -> EventLoopFuture<
        ByteBuffer
    > {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        var frame = ByteBuffer()
        frame.writeInteger(id)
        channel.writeAndFlush(
            OutgoingRequest(
                correlationId: id, apiKey: authentication ? .saslAuthenticate : .metadata, apiVersion: 1,
                frame: frame, timeout: .seconds(30), promise: promise, isAuthentication: authentication),
            promise: nil)
        return promise.futureResult
    }

    /// Correlation ids of the frames written to the socket so far.
    private func written(_ channel: EmbeddedChannel) throws -> [Int32] {
        var ids: [Int32] = []
        while var frame = try channel.readOutbound(as: ByteBuffer.self) { ids.append(frame.readInteger()!) }
        return ids
    }

    private func answer(_ channel: EmbeddedChannel, _ id: Int32) throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(4))
        buffer.writeInteger(id)
        try channel.writeInbound(buffer)
    }

    private func result(_ future: EventLoopFuture<ByteBuffer>) -> Result<ByteBuffer, any Error>? {
        let box = NIOLockedValueBox<Result<ByteBuffer, any Error>?>(nil)
        future.whenComplete { result in box.withLockedValue { $0 = result } }
        return box.withLockedValue { $0 }
    }

    private func gate(_ channel: EmbeddedChannel, _ event: ReauthenticationGate) throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.pipeline.triggerUserOutboundEvent(event, promise: promise)
        try promise.futureResult.wait()
    }

    private func handler(_ channel: EmbeddedChannel) throws -> KafkaChannelHandler {
        try channel.pipeline.syncOperations.handler(type: KafkaChannelHandler.self)
    }

    func testHeldRequestsLeaveInOrderAfterTheExchange() throws {
        let channel = try makeChannel()
        let before = try write(channel, 1)
        try gate(channel, .hold)
        let held = [try write(channel, 2), try write(channel, 3)]
        let exchange = try write(channel, 4, authentication: true)
        XCTAssertEqual(try written(channel), [1, 4], "only the exchange passes the gate")
        XCTAssertEqual(try handler(channel).heldCount, 2)
        try answer(channel, 1)
        try answer(channel, 4)
        guard case .success? = result(before), case .success? = result(exchange) else { return XCTFail("not answered") }
        XCTAssertNil(result(held[0]))
        try gate(channel, .release)
        XCTAssertEqual(try written(channel), [2, 3])
        try answer(channel, 3)
        try answer(channel, 2)
        for future in held {
            guard case .success? = result(future) else { return XCTFail("held request not answered") }
        }
        // The gate is open again.
        _ = try write(channel, 5)
        XCTAssertEqual(try written(channel), [5])
        _ = try? channel.finish()
    }

    func testAFailedExchangeClosesTheConnectionAndFailsHeldAndPendingRequests() throws {
        let channel = try makeChannel()
        let inFlight = try write(channel, 1)
        try gate(channel, .hold)
        let held = try write(channel, 2)
        XCTAssertEqual(try written(channel), [1])
        try gate(channel, .fail(reason: "SASL re-authentication failed: nope"))
        for future in [inFlight, held] {
            guard case let .failure(error)? = result(future) else { return XCTFail("not failed") }
            XCTAssertEqual(
                error as? KafkaClientError, .connectionClosed(address, reason: "SASL re-authentication failed: nope"))
        }
        XCTAssertFalse(channel.isActive)
        XCTAssertEqual(try written(channel), [], "the held request was never written")
    }

    func testCancellingAHeldRequestDropsIt() throws {
        let channel = try makeChannel()
        try gate(channel, .hold)
        let held = try write(channel, 2)
        channel.pipeline.triggerUserOutboundEvent(CancelRequest(correlationId: 2), promise: nil)
        guard case let .failure(error)? = result(held) else { return XCTFail("not failed") }
        XCTAssertEqual(error as? KafkaClientError, .cancelled)
        try gate(channel, .release)
        XCTAssertEqual(try written(channel), [], "a cancelled held request is not written")
        XCTAssertTrue(channel.isActive)
        _ = try? channel.finish()
    }

    func testTheConnectionClosingFailsHeldRequests() throws {
        let channel = try makeChannel()
        try gate(channel, .hold)
        let held = try write(channel, 2)
        channel.pipeline.fireChannelInactive()
        guard case let .failure(error)? = result(held) else { return XCTFail("not failed") }
        guard case .connectionClosed? = error as? KafkaClientError else { return XCTFail("\(error)") }
    }
}

/// The client against a real broker whose SASL listener gives sessions of 1.2 s.
final class ReauthenticationInProcessBrokerTests: XCTestCase {
    private var running: InProcessBroker?

    override func tearDown() async throws {
        await running?.stop()
    }

    private func startSaslBroker(maxReauthMs: Int64) async throws -> BrokerAddress {
        let started = try await InProcessBroker.start(
            configure: { config in
                config.saslMechanisms = [.scramSha256]
                config.connectionsMaxReauthMs = maxReauthMs
                config.listeners = [
                    ListenerSpec(name: "SASL", host: "127.0.0.1", port: 0, securityProtocol: .saslPlaintext)
                ]
            }, listener: BrokerService.Listener(name: "SASL", host: "127.0.0.1", port: 0, requiresSASL: true)
        ) { broker in
            try broker.authentication.scram.upsert(
                user: "mirror", mechanism: .sha256,
                credential: ScramCredential(mechanism: .sha256, password: "mirror-secret"))
        }
        running = started
        return started.address
    }

    func testPipelinedProducesKeepTheirOrderAcrossReauthentications() async throws {
        let address = try await startSaslBroker(maxReauthMs: 1200)
        var configuration = KafkaClientConfiguration()  // the default 85-95 % window
        configuration.securityProtocol = .saslPlaintext
        configuration.sasl = SaslCredentials(mechanism: .scramSha256, username: "mirror", password: "mirror-secret")
        let connection = try await KafkaConnection.connect(to: address, configuration: configuration)
        defer { Task { await connection.close() } }
        XCTAssertEqual(connection.sessionLifetime, .milliseconds(1200))
        let created = try await connection.send(
            CreateTopicsRequest(
                topics: [.init(name: "t", numPartitions: 1, replicationFactor: 1)], timeoutMs: 1000), version: 7)
        XCTAssertEqual(created.topics.first?.errorCode, 0)

        // 2.8 s of pipelined produces (sessions end every 1.2 s without a renewal).
        var expected: Int64 = 0
        let until = ContinuousClock.now.advanced(by: .milliseconds(2800))
        while ContinuousClock.now < until {
            var pending: [PendingProduce] = []
            for _ in 0..<5 {
                var builder = RecordBatchBuilder()
                builder.append(key: nil, value: Array("r\(expected)".utf8), timestamp: 1_700_000_000_000)
                pending.append(
                    try connection.enqueueProduce(
                        [TopicPartition("t", 0): try builder.build().bytes], acks: -1, timeoutMs: 1000))
            }
            for request in pending {
                let results = try await request.results()
                let result = try XCTUnwrap(results[TopicPartition("t", 0)])
                XCTAssertTrue(result.isSuccess, "\(result)")
                XCTAssertEqual(result.baseOffset, expected, "appended in the order issued")
                expected += 1
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertTrue(connection.isActive, "the same connection throughout")
        XCTAssertGreaterThanOrEqual(connection.reauthenticationCount, 2)
    }
}
