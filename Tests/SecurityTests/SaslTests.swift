import Foundation
import XCTest
@testable import Security

final class SaslTests: XCTestCase {
    func makeSession(
        _ mechanisms: [SaslMechanism] = SaslMechanism.allCases, scram: FileScramCredentialStore = .inMemory(),
        plain: PlainCredentialStore = .inMemory(), nonce: String? = nil
    ) -> SaslServerSession {
        let makeNonce: @Sendable () -> String
        if let nonce { makeNonce = { nonce } } else { makeNonce = SaslServerConfiguration.randomNonce }
        let config = SaslServerConfiguration(
            enabledMechanisms: mechanisms, scramCredentials: scram, plainCredentials: plain,
            makeServerNonce: makeNonce)
        return SaslServerSession(configuration: config)
    }

    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    // RFC 7677 section 3 example, byte for byte.
    func testRFC7677GoldenExchange() throws {
        let store = FileScramCredentialStore.inMemory()
        try store.upsert(
            user: "user", mechanism: .sha256,
            credential: ScramCredential(
                mechanism: .sha256, password: "pencil",
                salt: [UInt8](base64: "W22ZaJ0SNY7soEsUEjb6gQ==")!, iterations: 4096))
        var s = makeSession([.scramSha256], scram: store, nonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
        guard case .accepted(.scramSha256, let enabled) = s.handshake(mechanism: "SCRAM-SHA-256") else {
            return XCTFail()
        }
        XCTAssertEqual(enabled, ["SCRAM-SHA-256"])
        XCTAssertEqual(
            s.authenticate(bytes("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")),
            .challenge(bytes("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")))
        XCTAssertEqual(
            s.authenticate(
                bytes(
                    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                )),
            .success(.user("user"), finalBytes: bytes("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")))
        XCTAssertEqual(s.principal?.description, "User:user")
    }

    func fullExchange(
        _ mech: ScramMechanism, user: String = "alice", password: String = "s3cret", tryPassword: String? = nil
    ) throws -> (SaslAuthenticateResult, ScramClient) {
        let store = FileScramCredentialStore.inMemory()
        try store.upsert(
            user: user, mechanism: mech, credential: ScramCredential(mechanism: mech, password: Secret(password)))
        var s = makeSession(scram: store)
        guard case .accepted = s.handshake(mechanism: mech.mechanismName) else { throw XCTSkip("handshake") }
        var client = ScramClient(mechanism: mech, user: user, password: tryPassword ?? password)
        guard case let .challenge(sf) = s.authenticate(client.clientFirst()) else {
            XCTFail("no challenge"); throw XCTSkip()
        }
        let cf = try client.clientFinal(serverFirst: sf)
        return (s.authenticate(cf), client)
    }

    func testScramSha256And512FullExchanges() throws {
        for mech in ScramMechanism.allCases {
            let (result, client) = try fullExchange(mech, user: "a,b=c")
            guard case let .success(principal, final) = result else { return XCTFail("\(mech): \(result)") }
            XCTAssertEqual(principal, .user("a,b=c"))
            XCTAssertTrue(client.verifyServerFinal(final), "\(mech) server signature")
        }
    }

    func testScramWrongPassword() throws {
        for mech in ScramMechanism.allCases {
            let (result, _) = try fullExchange(mech, tryPassword: "wrong")
            XCTAssertEqual(
                result,
                .failure(SaslError(.saslAuthenticationFailed, "Authentication failed: Invalid user credentials")))
        }
    }

    func testScramUnknownUserFailsAtProofWithStableFakeSalt() throws {
        var s1 = makeSession(), s2 = makeSession()
        _ = s1.handshake(mechanism: "SCRAM-SHA-512")
        _ = s2.handshake(mechanism: "SCRAM-SHA-512")
        var client = ScramClient(mechanism: .sha512, user: "ghost", password: "x", clientNonce: "abc")
        guard case let .challenge(sf1) = s1.authenticate(client.clientFirst()),
            case let .challenge(sf2) = s2.authenticate(client.clientFirst())
        else { return XCTFail() }
        let salt = { (b: [UInt8]) in String(decoding: b, as: UTF8.self).split(separator: ",")[1] }
        XCTAssertEqual(salt(sf1), salt(sf2))
        guard case let .failure(e) = s1.authenticate(try client.clientFinal(serverFirst: sf1)) else { return XCTFail() }
        XCTAssertEqual(e.code, .saslAuthenticationFailed)
    }

    func testScramForgedNonceRejected() throws {
        let store = FileScramCredentialStore.inMemory()
        try store.upsert(
            user: "alice", mechanism: .sha256, credential: ScramCredential(mechanism: .sha256, password: "pw"))
        var s = makeSession(scram: store)
        _ = s.handshake(mechanism: "SCRAM-SHA-256")
        var client = ScramClient(mechanism: .sha256, user: "alice", password: "pw", clientNonce: "cnonce")
        guard case let .challenge(sf) = s.authenticate(client.clientFirst()) else { return XCTFail() }
        let forged = try client.clientFinal(serverFirst: sf, overrideNonce: "cnonceFORGED")
        XCTAssertEqual(
            s.authenticate(forged),
            .failure(SaslError(.saslAuthenticationFailed, "Authentication failed: nonce mismatch")))
        // The session is dead afterwards.
        guard case .failure(let e) = s.authenticate(forged) else { return XCTFail() }
        XCTAssertEqual(e.code, .illegalSaslState)
    }

    func testScramReplayedClientFinalFailsInNewSession() throws {
        let store = FileScramCredentialStore.inMemory()
        try store.upsert(
            user: "alice", mechanism: .sha256, credential: ScramCredential(mechanism: .sha256, password: "pw"))
        var s1 = makeSession(scram: store)
        _ = s1.handshake(mechanism: "SCRAM-SHA-256")
        var client = ScramClient(mechanism: .sha256, user: "alice", password: "pw", clientNonce: "fixed")
        guard case let .challenge(sf) = s1.authenticate(client.clientFirst()) else { return XCTFail() }
        let cf = try client.clientFinal(serverFirst: sf)
        guard case .success = s1.authenticate(cf) else { return XCTFail() }
        // An eavesdropper replays both client messages on a new connection: new server nonce, so it fails.
        var s2 = makeSession(scram: store)
        _ = s2.handshake(mechanism: "SCRAM-SHA-256")
        guard case .challenge = s2.authenticate(client.clientFirst()) else { return XCTFail() }
        guard case let .failure(e) = s2.authenticate(cf) else { return XCTFail() }
        XCTAssertEqual(e.code, .saslAuthenticationFailed)
    }

    func testTruncatedAndMalformedMessages() throws {
        let store = FileScramCredentialStore.inMemory()
        try store.upsert(
            user: "alice", mechanism: .sha256, credential: ScramCredential(mechanism: .sha256, password: "pw"))
        let badFirsts = [
            "", "n", "n,", "n,,", "n,,n=alice", "n,,n=alice,r=", "p=tls-unique,,n=alice,r=x",
            "n,,m=ext,n=alice,r=x", "n,,n=al=ice,r=x", "n,,n=élodie,r=x", "n,,n=alice,r=x,tokenauth=true",
            "n,a=bob,n=alice,r=x", "x,,n=alice,r=x"
        ]
        for first in badFirsts {
            var s = makeSession(scram: store)
            _ = s.handshake(mechanism: "SCRAM-SHA-256")
            guard case let .failure(e) = s.authenticate(bytes(first)) else { XCTFail("accepted \(first)"); continue }
            XCTAssertEqual(e.code, .saslAuthenticationFailed, first)
            XCTAssertTrue(e.message.contains("client-first"), e.message)
        }
        let badFinals = [
            "", "c=biws", "c=biws,r=cnonce", "p=abc", "c=eSws,r=NONCE,p=AAAA", "c=biws,r=NONCE,p=!!!",
            "c=biws,r=NONCE,p=AAAA"
        ]
        for final in badFinals {
            var s = makeSession(scram: store, nonce: "srv")
            _ = s.handshake(mechanism: "SCRAM-SHA-256")
            guard case .challenge = s.authenticate(bytes("n,,n=alice,r=cnonce")) else { XCTFail(); continue }
            guard
                case let .failure(e) = s.authenticate(bytes(final.replacingOccurrences(of: "NONCE", with: "cnoncesrv")))
            else {
                XCTFail("accepted \(final)"); continue
            }
            XCTAssertEqual(e.code, .saslAuthenticationFailed, final)
        }
    }

    func testHandshakeAndStateErrors() {
        var s = makeSession([.scramSha512])
        XCTAssertEqual(
            s.authenticate(bytes("x")),
            .failure(SaslError(.illegalSaslState, "Unexpected SaslAuthenticate request: no SASL exchange in progress")))
        s = makeSession([.scramSha512, .plain])
        guard case let .rejected(e, enabled) = s.handshake(mechanism: "GSSAPI") else { return XCTFail() }
        XCTAssertEqual(e.code, .unsupportedSaslMechanism)
        XCTAssertEqual(enabled, ["SCRAM-SHA-512", "PLAIN"])
        guard case let .rejected(e2, _) = s.handshake(mechanism: "SCRAM-SHA-256") else { return XCTFail() }
        XCTAssertEqual(e2.code, .unsupportedSaslMechanism)
        guard case .accepted(.plain, _) = s.handshake(mechanism: "PLAIN") else { return XCTFail() }
        guard case let .rejected(e3, _) = s.handshake(mechanism: "PLAIN") else { return XCTFail() }
        XCTAssertEqual(e3.code, .illegalSaslState)
    }

    func testPlain() throws {
        let plain = PlainCredentialStore.inMemory()
        try plain.setPassword(user: "bob", password: "hunter2")
        func run(_ msg: [UInt8]) -> SaslAuthenticateResult {
            var s = makeSession([.plain], plain: plain)
            _ = s.handshake(mechanism: "PLAIN")
            return s.authenticate(msg)
        }
        XCTAssertEqual(run(bytes("\0bob\0hunter2")), .success(.user("bob"), finalBytes: []))
        XCTAssertEqual(run(bytes("bob\0bob\0hunter2")), .success(.user("bob"), finalBytes: []))
        for bad in [
            "\0bob\0wrong", "\0carol\0hunter2", "alice\0bob\0hunter2", "\0bob", "\0\0hunter2", "\0bob\0",
            "\0bob\0hunter2\0x", ""
        ] {
            guard case let .failure(e) = run(bytes(bad)) else { XCTFail("accepted \(bad.debugDescription)"); continue }
            XCTAssertEqual(e.code, .saslAuthenticationFailed)
        }
        // Re-authentication (KIP-368) starts with a new handshake.
        var s = makeSession([.plain], plain: plain)
        _ = s.handshake(mechanism: "PLAIN")
        guard case .success = s.authenticate(bytes("\0bob\0hunter2")) else { return XCTFail() }
        guard case .accepted = s.handshake(mechanism: "PLAIN") else { return XCTFail() }
        guard case .success = s.authenticate(bytes("\0bob\0hunter2")) else { return XCTFail() }
    }

    func testReauthenticationMustKeepMechanismAndPrincipal() throws {
        let plain = PlainCredentialStore.inMemory()
        try plain.setPassword(user: "bob", password: "hunter2")
        try plain.setPassword(user: "eve", password: "evil")
        let scram = FileScramCredentialStore.inMemory()
        try scram.upsert(
            user: "bob", mechanism: .sha256, credential: ScramCredential(mechanism: .sha256, password: "pw"))
        func authenticated() -> SaslServerSession {
            var s = makeSession([.plain, .scramSha256], scram: scram, plain: plain)
            _ = s.handshake(mechanism: "PLAIN")
            _ = s.authenticate(bytes("\0bob\0hunter2"))
            XCTAssertEqual(s.session, SaslSession(principal: .user("bob"), mechanism: .plain))
            return s
        }
        // Same user, same mechanism: renewed.
        var s = authenticated()
        guard case .accepted = s.handshake(mechanism: "PLAIN") else { return XCTFail() }
        XCTAssertTrue(s.isReauthenticating)
        XCTAssertTrue(s.exchangeInProgress)
        XCTAssertEqual(s.authenticate(bytes("\0bob\0hunter2")), .success(.user("bob"), finalBytes: []))
        XCTAssertFalse(s.isReauthenticating)

        // Another user with valid credentials: refused, and the session is dead.
        s = authenticated()
        _ = s.handshake(mechanism: "PLAIN")
        XCTAssertEqual(
            s.authenticate(bytes("\0eve\0evil")),
            .failure(
                SaslError(
                    .saslAuthenticationFailed,
                    "Cannot change principals during re-authentication from User:bob to User:eve")))
        XCTAssertEqual(s.claimedUser, "eve")
        XCTAssertNil(s.session)

        // Another mechanism: the handshake is accepted (it is enabled), the first token refused.
        s = authenticated()
        guard case .accepted(.scramSha256, _) = s.handshake(mechanism: "SCRAM-SHA-256") else { return XCTFail() }
        let client = ScramClient(mechanism: .sha256, user: "bob", password: "pw")
        guard case let .failure(e) = s.authenticate(client.clientFirst()) else { return XCTFail() }
        XCTAssertEqual(
            e.message,
            "SASL mechanism 'SCRAM-SHA-256' requested by client is not supported for re-authentication of mechanism 'PLAIN'"
        )
    }

    func testClaimedUserIsKnownAfterAFailedScramExchange() throws {
        var s = makeSession([.scramSha512])
        _ = s.handshake(mechanism: "SCRAM-SHA-512")
        var client = ScramClient(mechanism: .sha512, user: "mallory", password: "guess")
        guard case let .challenge(sf) = s.authenticate(client.clientFirst()) else { return XCTFail() }
        guard case .failure = s.authenticate(try client.clientFinal(serverFirst: sf)) else { return XCTFail() }
        XCTAssertEqual(s.claimedUser, "mallory")
        XCTAssertEqual(s.mechanism, nil, "a failed session has no mechanism")
    }
}
