import Foundation
import BrokerCore
import KafkaProtocol
import ListenerSettings
import NIOCore
import Security
import XCTest

/// SASL on one connection, driven through `Broker.handle` with the broker's clock in the test's
/// hands: session lifetimes (KIP-368), re-authentication, SaslHandshake v0 raw tokens, and the
/// audit lines of failures.
final class SaslTranscriptTests: XCTestCase {
    var auditURL: URL!

    override func setUp() {
        auditURL = FileManager.default.temporaryDirectory.appendingPathComponent("sasl-audit-\(UUID().uuidString).log")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: auditURL)
    }

    /// A broker with a SASL listener named SASL (PLAIN and SCRAM-SHA-256; users alice, bob),
    /// and a client connected to it.
    func saslClient(maxReauthMs: Int64 = 10_000, listenerMaxReauthMs: Int64? = nil) throws -> BrokerHarness {
        var config = BrokerConfig()
        config.saslMechanisms = [.plain, .scramSha256]
        config.connectionsMaxReauthMs = maxReauthMs
        config.listeners = [
            ListenerSpec(
                name: "SASL", host: "127.0.0.1", port: 0, securityProtocol: .saslPlaintext,
                connectionsMaxReauthMs: listenerMaxReauthMs)
        ]
        config.auditLogFile = auditURL.path
        let client = try BrokerHarness(config: config)
        client.connection = ConnectionContext(
            id: 7, remoteAddress: "10.0.0.5:40000", remoteHost: "10.0.0.5", listenerName: "SASL",
            session: ConnectionSession(requiresSASL: true))
        let auth = client.broker.authentication
        try auth.plain.setPassword(user: "alice", password: "alice-secret")
        try auth.plain.setPassword(user: "bob", password: "bob-secret")
        try auth.scram.upsert(
            user: "alice", mechanism: .sha256, credential: ScramCredential(mechanism: .sha256, password: "alice-scram"))
        return client
    }

    func plainToken(_ user: String, _ password: String) -> [UInt8] { Array("\0\(user)\0\(password)".utf8) }

    func handshake(_ client: BrokerHarness, _ mechanism: String, version: Int16 = 1) async throws -> KafkaErrorCode {
        try await client.send(SaslHandshakeRequest(mechanism: mechanism), version: version).errorCode
    }

    /// Handshake + one SaslAuthenticate with PLAIN; the response must come back (not closed).
    func plainLogin(
        _ client: BrokerHarness, _ user: String, _ password: String, version: Int16 = 2,
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> SaslAuthenticateResponse {
        let handshakeError = try await handshake(client, "PLAIN")
        XCTAssertEqual(handshakeError, 0, file: file, line: line)
        return try await client.send(
            SaslAuthenticateRequest(authBytes: plainToken(user, password)), version: version, file: file, line: line)
    }

    /// The response of a request after which the broker closes the connection.
    func closingResponse<Request: KafkaRequestMessage>(
        _ client: BrokerHarness, _ request: Request, version: Int16,
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> (Request.Response, String) {
        let outcome = try await client.outcome(request, version: version)
        guard case .respondAndClose(var frame, let reason) = outcome else {
            XCTFail("expected a response and a close, got \(outcome)", file: file, line: line)
            throw HarnessError.noResponse
        }
        _ = frame.readInteger(as: Int32.self)
        _ = try ResponseHeader.decode(
            from: &frame, headerVersion: Request.apiKey.responseHeaderVersion(apiVersion: version))
        return (try Request.Response(from: &frame, version: version), reason)
    }

    func closeReason<Request: KafkaRequestMessage>(
        _ client: BrokerHarness, _ request: Request, version: Int16,
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> String {
        let outcome = try await client.outcome(request, version: version)
        guard case let .closeConnection(reason) = outcome else {
            XCTFail("expected the connection to close, got \(outcome)", file: file, line: line)
            return ""
        }
        return reason
    }

    let metadata = MetadataRequest(topics: [], allowAutoTopicCreation: false)

    func auditEvents() throws -> [AuditEvent] {
        guard let text = try? String(contentsOf: auditURL, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONDecoder().decode(AuditEvent.self, from: Data($0.utf8)) }
    }

    // MARK: KIP-368

    func testSessionLifetimeReauthenticationAndExpiry() async throws {
        let client = try saslClient(maxReauthMs: 10_000)
        let closed = try await closeReason(client, metadata, version: 12)
        XCTAssertTrue(closed.contains("before SASL authentication"), closed)

        // SCRAM-SHA-256 through SaslAuthenticate v2; the final answer carries the lifetime.
        var scram = SaslClientSession(mechanism: .scramSha256, username: "alice", password: "alice-scram")
        let handshakeError = try await handshake(client, "SCRAM-SHA-256")
        XCTAssertEqual(handshakeError, 0)
        let first = try await client.send(SaslAuthenticateRequest(authBytes: scram.initialMessage()), version: 2)
        XCTAssertEqual(first.errorCode, 0)
        XCTAssertEqual(first.sessionLifetimeMs, 0, "no lifetime before the exchange completes")
        let final = try await client.send(
            SaslAuthenticateRequest(authBytes: try XCTUnwrap(scram.respond(to: first.authBytes))), version: 2)
        XCTAssertEqual(final.errorCode, 0)
        XCTAssertEqual(final.sessionLifetimeMs, 10_000)
        try scram.finish(with: final.authBytes)
        XCTAssertEqual(client.connection.session.principal, .user("alice"))
        XCTAssertEqual(client.connection.session.sessionExpiresAtMs, client.clock.milliseconds + 10_000)
        _ = try await client.send(metadata, version: 12)

        // Re-authentication at 90 % of the lifetime, on the same connection: a new lifetime.
        client.clock.advance(by: 9_000)
        var again = SaslClientSession(mechanism: .scramSha256, username: "alice", password: "alice-scram")
        let reHandshake = try await handshake(client, "SCRAM-SHA-256")
        XCTAssertEqual(reHandshake, 0)
        let reFirst = try await client.send(SaslAuthenticateRequest(authBytes: again.initialMessage()), version: 2)
        let reFinal = try await client.send(
            SaslAuthenticateRequest(authBytes: try XCTUnwrap(again.respond(to: reFirst.authBytes))), version: 2)
        XCTAssertEqual(reFinal.errorCode, 0)
        XCTAssertEqual(reFinal.sessionLifetimeMs, 10_000)

        // Past the first session's end, inside the renewed one: served.
        client.clock.advance(by: 9_999)
        _ = try await client.send(metadata, version: 12)
        // Past the renewed session's end: closed, and audited.
        client.clock.advance(by: 1)
        let expired = try await closeReason(client, metadata, version: 12)
        XCTAssertTrue(expired.contains("SASL session of User:alice expired"), expired)
        XCTAssertTrue(expired.contains("connections-max-reauth-ms 10000"), expired)
        let events = try auditEvents()
        XCTAssertEqual(events.map(\.kind), [.authenticationFailed, .authenticationFailed])
        XCTAssertEqual(events[0].principal, "User:ANONYMOUS")
        XCTAssertEqual(events[0].api, "Metadata")
        XCTAssertEqual(events[1].principal, "User:alice")
        XCTAssertEqual(events[1].host, "10.0.0.5")
        XCTAssertEqual(events[1].operation, "SCRAM-SHA-256")
        XCTAssertEqual(events[1].detail, "session expired (listener SASL)")
    }

    func testListenerLifetimeOverridesTheBrokerDefault() async throws {
        let client = try saslClient(maxReauthMs: 0, listenerMaxReauthMs: 3_000)
        let response = try await plainLogin(client, "alice", "alice-secret")
        XCTAssertEqual(response.sessionLifetimeMs, 3_000)
        let off = try saslClient(maxReauthMs: 5_000, listenerMaxReauthMs: 0)
        let unlimited = try await plainLogin(off, "alice", "alice-secret")
        XCTAssertEqual(unlimited.sessionLifetimeMs, 0)
        XCTAssertNil(off.connection.session.sessionExpiresAtMs)
    }

    func testReauthenticationAsAnotherUserIsRefusedAndClosed() async throws {
        let client = try saslClient()
        _ = try await plainLogin(client, "alice", "alice-secret")
        client.clock.advance(by: 8_000)
        let handshakeError = try await handshake(client, "PLAIN")
        XCTAssertEqual(handshakeError, 0)
        let (response, reason) = try await closingResponse(
            client, SaslAuthenticateRequest(authBytes: plainToken("bob", "bob-secret")), version: 2)
        XCTAssertEqual(response.errorCode, KafkaErrorCode.saslAuthenticationFailed)
        XCTAssertEqual(
            response.errorMessage, "Cannot change principals during re-authentication from User:alice to User:bob")
        XCTAssertTrue(reason.contains("Cannot change principals"), reason)
        XCTAssertEqual(client.connection.session.principal, .user("alice"), "the principal is not replaced")
        let event = try XCTUnwrap(auditEvents().last)
        XCTAssertEqual(event.kind, .authenticationFailed)
        XCTAssertEqual(event.principal, "User:bob", "the claimed user")
        XCTAssertEqual(event.operation, "PLAIN")
        XCTAssertEqual(event.api, "SaslAuthenticate")
        XCTAssertEqual(
            event.detail,
            "re-authentication: Cannot change principals during re-authentication from User:alice to User:bob (listener SASL)"
        )
    }

    func testReauthenticationWithAnotherMechanismIsRefused() async throws {
        let client = try saslClient()
        _ = try await plainLogin(client, "alice", "alice-secret")
        let handshakeError = try await handshake(client, "SCRAM-SHA-256")
        XCTAssertEqual(handshakeError, 0)
        var scram = SaslClientSession(mechanism: .scramSha256, username: "alice", password: "alice-scram")
        let (response, _) = try await closingResponse(
            client, SaslAuthenticateRequest(authBytes: scram.initialMessage()), version: 2)
        XCTAssertEqual(response.errorCode, KafkaErrorCode.saslAuthenticationFailed)
        XCTAssertTrue(
            response.errorMessage?.contains("not supported for re-authentication of mechanism 'PLAIN'") == true)
    }

    func testReauthenticationIsRefusedWhenOffOrWithinASecond() async throws {
        // connections-max-reauth-ms 0: a second handshake is answered ILLEGAL_SASL_STATE, and the
        // session carries on.
        let off = try saslClient(maxReauthMs: 0)
        let login = try await plainLogin(off, "alice", "alice-secret")
        XCTAssertEqual(login.sessionLifetimeMs, 0)
        let refused = try await handshake(off, "PLAIN")
        XCTAssertEqual(refused, KafkaErrorCode.illegalSaslState)
        _ = try await off.send(metadata, version: 12)
        off.clock.advance(by: 86_400_000)
        _ = try await off.send(metadata, version: 12)

        // At most one re-authentication per second.
        let client = try saslClient()
        _ = try await plainLogin(client, "alice", "alice-secret")
        _ = try await plainLogin(client, "alice", "alice-secret")
        client.clock.advance(by: 999)
        let tooSoon = try await handshake(client, "PLAIN")
        XCTAssertEqual(tooSoon, KafkaErrorCode.illegalSaslState)
        client.clock.advance(by: 1)
        let renewed = try await plainLogin(client, "alice", "alice-secret")
        XCTAssertEqual(renewed.errorCode, 0)
        let details = try auditEvents().map(\.detail)
        XCTAssertEqual(details.count, 2)
        XCTAssertTrue(details[0]?.contains("re-authentication is not enabled") == true)
        XCTAssertTrue(details[1]?.contains("at most one per second") == true)
    }

    func testOtherRequestsDuringAReauthenticationCloseTheConnection() async throws {
        let client = try saslClient()
        _ = try await plainLogin(client, "alice", "alice-secret")
        let handshakeError = try await handshake(client, "PLAIN")
        XCTAssertEqual(handshakeError, 0)
        let reason = try await closeReason(client, metadata, version: 12)
        XCTAssertTrue(reason.contains("during SASL re-authentication"), reason)
    }

    func testSaslAuthenticateV0ClientsGetNoLifetimeButTheirSessionsStillExpire() async throws {
        let client = try saslClient(maxReauthMs: 2_000)
        let response = try await plainLogin(client, "alice", "alice-secret", version: 0)
        XCTAssertEqual(response.errorCode, 0)
        XCTAssertEqual(response.sessionLifetimeMs, 0, "v0 has no SessionLifetimeMs field")
        client.clock.advance(by: 1_999)
        _ = try await client.send(metadata, version: 12)
        client.clock.advance(by: 1)
        let reason = try await closeReason(client, metadata, version: 12)
        XCTAssertTrue(reason.contains("expired"), reason)
    }

    func testSessionLifetimeRule() {
        XCTAssertNil(saslSessionLifetimeMs(maxReauthMs: 0, credentialExpiresAtMs: nil, now: 1_000))
        XCTAssertEqual(saslSessionLifetimeMs(maxReauthMs: 5_000, credentialExpiresAtMs: nil, now: 1_000), 5_000)
        XCTAssertEqual(saslSessionLifetimeMs(maxReauthMs: 5_000, credentialExpiresAtMs: 3_000, now: 1_000), 2_000)
        XCTAssertEqual(saslSessionLifetimeMs(maxReauthMs: 0, credentialExpiresAtMs: 9_000, now: 1_000), 8_000)
        XCTAssertEqual(saslSessionLifetimeMs(maxReauthMs: 5_000, credentialExpiresAtMs: 500, now: 1_000), 0)
    }

    func testConfigKey() {
        var config = BrokerConfig()
        XCTAssertEqual(config.connectionsMaxReauthMs, 0)
        XCTAssertNil(config.apply(setting: "connections-max-reauth-ms", value: "3600000"))
        XCTAssertEqual(config.connectionsMaxReauthMs, 3_600_000)
        XCTAssertNotNil(config.apply(setting: "connections-max-reauth-ms", value: "-1"))
        XCTAssertEqual(config.connectionsMaxReauthMs(listener: "PLAINTEXT"), 3_600_000)
    }

    func testDescribeConfigsShowsTheSaslSettings() async throws {
        let client = try saslClient(maxReauthMs: 3_600_000)
        _ = try await plainLogin(client, "alice", "alice-secret")
        let answer = try await client.send(
            DescribeConfigsRequest(resources: [
                .init(
                    resourceType: 4, resourceName: "0",
                    configurationKeys: [
                        "connections.max.reauth.ms", "sasl.server.max.receive.size", "sasl.enabled.mechanisms"
                    ])
            ]), version: 4)
        let values = Dictionary(uniqueKeysWithValues: (answer.results.first?.configs ?? []).map { ($0.name, $0.value) })
        XCTAssertEqual(values["connections.max.reauth.ms"], "3600000")
        XCTAssertEqual(values["sasl.server.max.receive.size"], "524288")
        XCTAssertEqual(values["sasl.enabled.mechanisms"], "PLAIN,SCRAM-SHA-256")
    }

    func testSaslMaxReceiveBytesKey() {
        var config = BrokerConfig()
        XCTAssertEqual(config.saslMaxReceiveBytes, 524_288, "Kafka's sasl.server.max.receive.size")
        XCTAssertNil(config.apply(setting: "sasl-max-receive-bytes", value: "65536"))
        XCTAssertEqual(config.saslMaxReceiveBytes, 65_536)
        XCTAssertEqual(
            config.apply(setting: "sasl-max-receive-bytes", value: "100"),
            "sasl-max-receive-bytes must be an integer from 1024 to 2147483647, got '100'")
        XCTAssertTrue(BrokerConfig.settingNames.contains("sasl-max-receive-bytes"))
    }

    /// The authentication of a SASL listener's connection lifts the frame cap of its decoder
    /// before the answer leaves.
    func testAuthenticationLiftsTheFrameCapBeforeAuthentication() async throws {
        let client = try saslClient()
        let framing = RequestFraming(maxBytesBeforeAuthentication: 524_288)
        client.connection = ConnectionContext(
            id: 9, remoteAddress: "10.0.0.5:40002", remoteHost: "10.0.0.5", listenerName: "SASL",
            session: ConnectionSession(requiresSASL: true, framing: framing))
        _ = try await handshake(client, "PLAIN")
        XCTAssertEqual(framing.maxBytesBeforeAuthentication, 524_288, "still capped mid-exchange")
        let answer = try await client.send(
            SaslAuthenticateRequest(authBytes: plainToken("alice", "alice-secret")), version: 2)
        XCTAssertEqual(answer.errorCode, 0)
        XCTAssertNil(framing.maxBytesBeforeAuthentication)
    }

    /// A re-authentication's tokens are capped as the first login's were; its success lifts the
    /// cap again.
    func testReauthenticationTokensAreCappedAgain() async throws {
        let client = try saslClient()
        let framing = RequestFraming(maxBytesBeforeAuthentication: 524_288)
        client.connection = ConnectionContext(
            id: 11, remoteAddress: "10.0.0.5:40003", remoteHost: "10.0.0.5", listenerName: "SASL",
            session: ConnectionSession(requiresSASL: true, framing: framing))
        _ = try await plainLogin(client, "alice", "alice-secret")
        XCTAssertNil(framing.maxBytesBeforeAuthentication)
        let handshakeError = try await handshake(client, "PLAIN")
        XCTAssertEqual(handshakeError, 0)
        XCTAssertEqual(framing.maxBytesBeforeAuthentication, 524_288, "capped during the re-authentication")
        let answer = try await client.send(
            SaslAuthenticateRequest(authBytes: plainToken("alice", "alice-secret")), version: 2)
        XCTAssertEqual(answer.errorCode, 0)
        XCTAssertNil(framing.maxBytesBeforeAuthentication, "lifted once it succeeded")
    }

    /// As Kafka: a SaslAuthenticate after the login, with no re-authentication handshake, gets
    /// ILLEGAL_SASL_STATE; the connection and its principal stay.
    func testSaslAuthenticateAfterLoginWithoutAHandshakeIsRefusedAndChangesNothing() async throws {
        let client = try saslClient()
        _ = try await plainLogin(client, "alice", "alice-secret")
        let answer = try await client.send(
            SaslAuthenticateRequest(authBytes: plainToken("bob", "bob-secret")), version: 2)
        XCTAssertEqual(answer.errorCode, KafkaErrorCode.illegalSaslState)
        XCTAssertEqual(answer.errorMessage, "SaslAuthenticate request received after successful authentication")
        XCTAssertEqual(client.connection.session.principal, .user("alice"))
        _ = try await client.send(metadata, version: 12)
    }

    func testTheBrokerAuditsAFrameRefusedBeforeAuthentication() throws {
        let client = try saslClient()
        client.broker.refusedFrameBeforeAuthentication(
            client.connection,
            reason: "request frame of 1048576 bytes before SASL authentication exceeds sasl-max-receive-bytes 524288")
        let events = try auditEvents()
        XCTAssertEqual(events.map(\.kind), [.authenticationFailed])
        XCTAssertEqual(events.first?.principal, "User:ANONYMOUS")
        XCTAssertEqual(events.first?.host, "10.0.0.5")
        XCTAssertEqual(events.first?.api, "(frame not read)")
        XCTAssertEqual(
            events.first?.detail,
            "request frame of 1048576 bytes before SASL authentication exceeds sasl-max-receive-bytes 524288 (listener SASL)"
        )
    }

    // MARK: SASL on listeners without SASL

    /// As Kafka, where only SASL listeners have a SASL authenticator: SaslHandshake and
    /// SaslAuthenticate are answered ILLEGAL_SASL_STATE, and the connection, its principal
    /// (here from a client certificate) and its framing stay as they were.
    func testSaslRequestsOnAListenerWithoutSaslAreRefusedAndChangeNothing() async throws {
        let client = try saslClient()
        for listener in ["PLAINTEXT", "SSL"] {
            let session = ConnectionSession(requiresSASL: false)
            session.identified(by: .user("carol"))
            client.connection = ConnectionContext(
                id: 10, remoteAddress: "10.0.0.7:40000", remoteHost: "10.0.0.7", listenerName: listener,
                session: session)
            for version: Int16 in [0, 1] {
                let handshake = try await client.send(SaslHandshakeRequest(mechanism: "PLAIN"), version: version)
                XCTAssertEqual(handshake.errorCode, KafkaErrorCode.illegalSaslState)
                XCTAssertEqual(handshake.mechanisms, [], "no mechanisms are offered here")
                XCTAssertFalse(session.framing.expectsRawSaslTokens, "v0: no raw tokens follow")
            }
            for version: Int16 in [0, 1, 2] {
                let answer = try await client.send(
                    SaslAuthenticateRequest(authBytes: plainToken("alice", "alice-secret")), version: version)
                XCTAssertEqual(answer.errorCode, KafkaErrorCode.illegalSaslState)
                XCTAssertEqual(answer.errorMessage, "SaslAuthenticate request received after successful authentication")
                XCTAssertEqual(answer.sessionLifetimeMs, 0)
            }
            XCTAssertEqual(session.principal, .user("carol"), "the principal is not replaced")
            XCTAssertNil(session.sessionExpiresAtMs)
            _ = try await client.send(metadata, version: 12)  // still served
        }
        XCTAssertEqual(try auditEvents().count, 0, "not an authentication failure")
    }

    // MARK: SaslHandshake v0: raw tokens

    func rawReply(_ outcome: RequestOutcome, file: StaticString = #filePath, line: UInt = #line) -> [UInt8]? {
        guard case var .respond(frame) = outcome else {
            XCTFail("expected a raw token, got \(outcome)", file: file, line: line)
            return nil
        }
        let length = frame.readInteger(as: Int32.self)
        XCTAssertEqual(Int(length ?? -1), frame.readableBytes, file: file, line: line)
        return frame.readBytes(length: frame.readableBytes)
    }

    func testHandshakeV0WithRawPlainToken() async throws {
        let client = try saslClient()
        let handshakeError = try await handshake(client, "PLAIN", version: 0)
        XCTAssertEqual(handshakeError, 0)
        XCTAssertTrue(client.connection.session.framing.expectsRawSaslTokens)
        // "\0a\0b"-sized tokens are shorter than any request header: the decoder allows them now.
        let outcome = await client.raw(plainToken("alice", "alice-secret"))
        let reply = rawReply(outcome)
        XCTAssertEqual(reply, [], "PLAIN's success is an empty token")
        XCTAssertFalse(client.connection.session.framing.expectsRawSaslTokens)
        XCTAssertEqual(client.connection.session.principal, .user("alice"))
        XCTAssertEqual(
            client.connection.session.sessionExpiresAtMs, client.clock.milliseconds + 10_000,
            "raw-token clients get no lifetime but are closed at expiry")
        let response = try await client.send(metadata, version: 12)
        XCTAssertEqual(response.clusterId, client.broker.clusterId)
    }

    func testHandshakeV0WithRawScramTokens() async throws {
        let client = try saslClient()
        let handshakeError = try await handshake(client, "SCRAM-SHA-256", version: 0)
        XCTAssertEqual(handshakeError, 0)
        var scram = SaslClientSession(mechanism: .scramSha256, username: "alice", password: "alice-scram")
        let firstOutcome = await client.raw(scram.initialMessage())
        let serverFirst = try XCTUnwrap(rawReply(firstOutcome))
        XCTAssertTrue(client.connection.session.framing.expectsRawSaslTokens, "still mid-exchange")
        let finalOutcome = await client.raw(try XCTUnwrap(scram.respond(to: serverFirst)))
        let serverFinal = try XCTUnwrap(rawReply(finalOutcome))
        try scram.finish(with: serverFinal)
        XCTAssertFalse(client.connection.session.framing.expectsRawSaslTokens)
        _ = try await client.send(metadata, version: 12)
    }

    func testHandshakeV0WithAWrongPasswordClosesWithoutAnswer() async throws {
        let client = try saslClient()
        _ = try await handshake(client, "PLAIN", version: 0)
        guard case let .closeConnection(reason) = await client.raw(plainToken("alice", "nope")) else {
            return XCTFail("not closed")
        }
        XCTAssertTrue(reason.contains("Invalid username or password"), reason)
        let event = try XCTUnwrap(auditEvents().last)
        XCTAssertEqual(event.principal, "User:alice")
        XCTAssertEqual(event.api, "SaslHandshake v0")
        XCTAssertFalse(
            String(decoding: try Data(contentsOf: auditURL), as: UTF8.self).contains("nope"), "never the password")
    }

    // MARK: Audit of failures

    func testFailedAuthenticationsAreAudited() async throws {
        let client = try saslClient()
        // Unsupported mechanism: answered, the connection stays.
        let unsupported = try await handshake(client, "GSSAPI")
        XCTAssertEqual(unsupported, KafkaErrorCode.unsupportedSaslMechanism)
        // Wrong password: answered and closed.
        _ = try await handshake(client, "PLAIN")
        let (wrong, _) = try await closingResponse(
            client, SaslAuthenticateRequest(authBytes: plainToken("alice", "hunter2")), version: 2)
        XCTAssertEqual(wrong.errorCode, KafkaErrorCode.saslAuthenticationFailed)
        // Unknown SCRAM user, on a new connection.
        client.connection = ConnectionContext(
            id: 8, remoteAddress: "10.0.0.6:40001", remoteHost: "10.0.0.6", listenerName: "SASL",
            session: ConnectionSession(requiresSASL: true))
        _ = try await handshake(client, "SCRAM-SHA-256")
        var ghost = SaslClientSession(mechanism: .scramSha256, username: "ghost", password: "boo")
        let first = try await client.send(SaslAuthenticateRequest(authBytes: ghost.initialMessage()), version: 2)
        _ = try await closingResponse(
            client, SaslAuthenticateRequest(authBytes: try XCTUnwrap(ghost.respond(to: first.authBytes))), version: 2)

        let events = try auditEvents()
        XCTAssertEqual(events.count, 3)
        XCTAssertEqual(events.map(\.kind), [.authenticationFailed, .authenticationFailed, .authenticationFailed])
        XCTAssertEqual(events.map(\.result), ["FAILURE", "FAILURE", "FAILURE"])
        XCTAssertEqual(events.map(\.principal), ["User:ANONYMOUS", "User:alice", "User:ghost"])
        XCTAssertEqual(events.map(\.host), ["10.0.0.5", "10.0.0.5", "10.0.0.6"])
        XCTAssertEqual(events.map(\.api), ["SaslHandshake", "SaslAuthenticate", "SaslAuthenticate"])
        XCTAssertEqual(events.map(\.operation), ["GSSAPI", "PLAIN", "SCRAM-SHA-256"])
        XCTAssertEqual(events[0].detail, "Unsupported SASL mechanism GSSAPI (listener SASL)")
        XCTAssertEqual(events[1].detail, "Authentication failed: Invalid username or password (listener SASL)")
        XCTAssertEqual(events[2].detail, "Authentication failed: Invalid user credentials (listener SASL)")
        let text = String(decoding: try Data(contentsOf: auditURL), as: UTF8.self)
        XCTAssertFalse(text.contains("hunter2") || text.contains("boo"), "never a password")
    }
}
